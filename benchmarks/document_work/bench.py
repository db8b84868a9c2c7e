"""A worker's claim + finish of one document, client side, on SQLite and on PostgreSQL.

**What is measured.** The database work a worker does per document, without the pipeline
and without a broker: ``take_document`` (the claim, its own transaction) and
``commit_outcome`` (chunks, document, counters and progress event, one transaction), one
document after the other in one thread, with pipeline results computed beforehand. Reported
per document: the client's CPU time (``time.process_time``) and the wall time. SQLite runs
inside the client, so its CPU counts; PostgreSQL's server processes do not.

**Baseline.** The same documents through ``process_file`` (the pipeline's CPU time per
document), measured before and after the rounds in the same run: the ratio says what share
of a document's cost the worker's bookkeeping adds, whatever the machine's speed.

Rounds alternate the backends (SQLite, PostgreSQL, SQLite, ...), each on a fresh collection;
the median round counts. There is no target: it shows where the embedded mode's and the
workers' per-document database costs stand (``docs/performance.md``). The benchmark
creates and drops its own PostgreSQL database; the SQLite file lives in a temporary
directory.

    python -m benchmarks.document_work [--documents 200] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common.databases import scratch_database
from benchmarks.common.profiling import cprofile_top
from benchmarks.processing.corpus import generate_corpus
from benchmarks.processing.runs import register, request_run

DB_NAME = "fileintel_bench_document_work"
DEFAULT_DOCUMENTS = 200
DEFAULT_ROUNDS = 3
SEED = 1234


@dataclass(frozen=True)
class Round:
    """One backend's pass over every document."""

    backend: str
    cpu_ms: float
    wall_ms: float


def pipeline_cpu_ms(paths: Sequence[Path]) -> tuple[float, dict[str, Any]]:
    """The pipeline's CPU time per document, and its results by resolved path."""
    from fileintel.pipeline import PipelineOptions, get_embedder, process_file

    embedder = get_embedder()
    started = time.process_time()
    results = {str(p.resolve()): process_file(p, PipelineOptions(), embedder) for p in paths}
    return (time.process_time() - started) * 1000 / len(paths), results


def one_round(
    backend: str,
    url: str,
    paths: Sequence[Path],
    results: dict[str, Any],
    name: str,
    profile: cProfile.Profile | None,
) -> Round:
    """Claim and finish every document of a fresh collection on ``url``."""
    from sqlalchemy import select

    from fileintel.db import get_engine, read_tx, write_tx
    from fileintel.models.tables import documents_t
    from fileintel.store.document_work import commit_outcome, take_document
    from fileintel.store.lifecycle import begin_run

    engine = get_engine(url)
    collection_id = register(engine, name, paths)
    run_id = request_run(engine, collection_id)
    with write_tx(engine) as conn:
        begin_run(conn, run_id)
    d = documents_t.c
    with read_tx(engine) as conn:
        ids = [r.id for r in conn.execute(select(d.id).where(d.collection_id == collection_id))]
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    for document_id in ids:
        claim = take_document(engine, run_id, document_id, 1, 60.0)
        commit_outcome(engine, claim, results[claim.path])
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Round(backend, cpu * 1000 / len(ids), wall * 1000 / len(ids))


def report(rounds: Sequence[Round], baseline_ms: float) -> str:
    """Median and best round per backend, and the median's share of the pipeline's CPU."""
    lines = [
        f"{'backend':<12} {'rounds':>6} {'CPU ms/doc (median)':>20} {'best':>6} "
        f"{'wall ms/doc':>11} {'vs pipeline CPU':>16}",
        "-" * 76,
    ]
    for backend in dict.fromkeys(r.backend for r in rounds):
        mine = [r for r in rounds if r.backend == backend]
        cpu = statistics.median(r.cpu_ms for r in mine)
        lines.append(
            f"{backend:<12} {len(mine):>6} {cpu:>20.2f} {min(r.cpu_ms for r in mine):>6.2f} "
            f"{statistics.median(r.wall_ms for r in mine):>11.2f} {cpu / baseline_ms:>16.2f}"
        )
    lines.append(f"pipeline CPU per document (baseline): {baseline_ms:.2f} ms")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds and print the table (always exit 0: there is no target)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.document_work", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--documents", type=int, default=DEFAULT_DOCUMENTS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--profile", action="store_true", help="cProfile of the rounds.")
    args = parser.parse_args(argv)
    from fileintel import migrate

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = generate_corpus(work / "corpus", args.documents, SEED)
        before, results = pipeline_cpu_ms(paths)
        sqlite_url = f"sqlite:///{work / 'bench.db'}"
        migrate.upgrade(sqlite_url)
        profiles = {"sqlite": cProfile.Profile(), "postgresql": cProfile.Profile()}
        # The scratch database's exit also disposes the SQLite file's engine before the
        # temporary directory holding it is removed.
        with scratch_database(DB_NAME) as pg_url:
            rounds = []
            for i in range(args.rounds):
                for backend, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
                    profile = profiles[backend] if args.profile else None
                    rounds.append(one_round(backend, url, paths, results, f"r{i}", profile))
            after, _ = pipeline_cpu_ms(paths)
    print(f"{args.documents} documents, pipeline results computed beforehand; one thread")
    print(report(rounds, (before + after) / 2))
    if args.profile:
        for backend, profile in profiles.items():
            print(f"\n-- {backend}: cumulative time, top 25")
            print(cprofile_top(profile, 25), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
