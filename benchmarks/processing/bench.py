"""Processing throughput: the real system beside the bare pipeline on the same corpus.

    .venv/bin/python -m benchmarks.processing [--documents 1000] [--seed 1234]
        [--rounds 5] [--profile] [--also 2x2] [--also 2x1,dramatiq_queue_prefetch=16]
        [--skip-embedded]

One run measures, on a generated corpus of mixed documents (txt, md, html, pdf; 20–50 KB
each, fixed seed, written to a temporary directory):

1. **plain loop**: ``fileintel.pipeline.process_file`` over every file, split over 2
   processes (multiprocessing), no database, no broker: the ceiling for this machine.
2. **system**: PostgreSQL + Redis, with ``fileintel worker --processes 2 --threads 1`` and
   ``fileintel relay`` started as subprocesses; timed from the processing request (what
   ``collections process`` commits) to the run's finish, by the database's timestamps.
3. **embedded**: SQLite + the embedded runtime (``fileintel run``: worker processes taking
   dispatch rows from the outbox, relay and sweeper in the parent; ``benchmarks.processing.
   embedded``) with 1 and with 2 worker processes of ``--embedded-threads`` threads, timed
   the same way, each between two plain loops like a system round.

The plain loop and the system alternate: ``--rounds`` system runs, each between two plain
loops. The machine's speed drifts during a run (other tenants), so each round's ratio is the
system's rate over the mean of the plain loops just before and after it, and the median
round is the result (five rounds by default: single rounds of the same system spread
±5% on this machine). ``--also`` and the embedded mode run once, compared with the mean of
all plain loops.

Targets: the system's rate, and the embedded mode's with 2 processes, are each at least
0.6 of the plain loop's (``--embedded-only`` measures the embedded mode alone). The
benchmark creates and drops its own PostgreSQL database and uses a Redis database of its
own (flushed before and after). Each mode first processes a small warm-up collection that
is not timed, so process start-up and first imports are not counted. It prints a table
with the ratios, the CPU seconds per document of each mode's own processes (independent of
other load on the machine) and, for the system, where the time went: transactions per
document, relay lag, start latency, CPU per component (workers, relay, PostgreSQL, Redis)
and, with ``--profile``, the shares of the worker threads' and the relay's time per
activity, sampled with py-spy (``pip install py-spy``). Exit code 0 when the targets are
met, 1 when not.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common.cpu_meter import CpuMeter, machine_cpu_seconds
from benchmarks.common.report import verdict
from benchmarks.processing.corpus import MAX_BYTES, MIN_BYTES, generate_corpus
from benchmarks.processing.embedded import embedded
from benchmarks.processing.runs import Measurement
from benchmarks.processing.system import SystemShape, system

TARGET_RATIO = 0.6
DEFAULT_DOCUMENTS = 1000
DEFAULT_SEED = 1234
WARMUP_DOCUMENTS = 12

# --- 1. the plain loop --------------------------------------------------------------------


def _process_one(path: str) -> int:
    from fileintel.pipeline import PipelineOptions, process_file

    return len(process_file(Path(path), PipelineOptions()).chunks)


def plain_loop(paths: Sequence[Path], processes: int = 2) -> Measurement:
    """``process_file`` over every path, split over ``processes`` worker processes."""
    names = [str(p) for p in paths]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_process_one, names[:WARMUP_DOCUMENTS], chunksize=1)  # imports, first calls
        meter = CpuMeter({"pool": lambda: [p.pid for p in multiprocessing.active_children()]})
        meter.start()
        machine = machine_cpu_seconds()
        started = time.perf_counter()
        chunks = sum(pool.map(_process_one, names, chunksize=4))
        seconds = time.perf_counter() - started
        machine = machine_cpu_seconds() - machine
        meter.stop()
    return Measurement(
        f"plain loop ({processes} processes)",
        len(names),
        seconds,
        {"chunks": chunks},
        cpu_seconds=meter.used["pool"],
        machine_cpu_seconds=machine,
    )


# --- report -------------------------------------------------------------------------------


def report(rows: Sequence[tuple[Measurement, float]]) -> str:
    """The table: rate and its ratio to the plain loop, own CPU per document, machine load."""
    lines = [
        f"{'mode':<52} {'docs':>5} {'seconds':>8} {'docs/s':>7} {'ratio':>6} "
        f"{'CPU ms/doc':>10} {'busy':>5}",
        "-" * 99,
    ]
    for m, ratio in rows:
        lines.append(
            f"{m.mode:<52} {m.documents:>5} {m.seconds:>8.2f} {m.rate:>7.1f} {ratio:>6.2f} "
            f"{m.cpu_ms_per_document:>10.1f} {m.machine_busy:>5.0%}"
        )
    lines.append(
        "ratio: docs/s over the plain loop's (a system round: over the mean of the plain loops "
        "just before and after it); CPU ms/doc: the mode's own processes (workers, relay, "
        "PostgreSQL, Redis); busy: the whole machine's CPU in use"
    )
    return "\n".join(lines)


def _show(name: str, m: Measurement) -> None:
    print(f"{name}: {m.rate:.1f} docs/s", flush=True)
    for key, value in m.details.items():
        print(f"  {key}: {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run every mode once and print the table; exit 0 when the target is met, 1 if not."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.processing")
    parser.add_argument("--documents", type=int, default=DEFAULT_DOCUMENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--skip-embedded", action="store_true", help="Skip the SQLite mode.")
    parser.add_argument(
        "--embedded-only", action="store_true", help="Only the plain loop and the SQLite mode."
    )
    parser.add_argument(
        "--embedded-threads", type=int, default=2, help="Threads per embedded worker process."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="System runs, each between two plain loops; the median round's ratio counts.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the corpus and logs.")
    parser.add_argument(
        "--worker-processes", type=int, default=2, help="fileintel worker --processes"
    )
    parser.add_argument("--worker-threads", type=int, default=1, help="fileintel worker --threads")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="PxT",
        help="Also measure the system with P worker processes of T threads (e.g. 2x2), "
        "optionally with worker environment: 2x1,dramatiq_queue_prefetch=16",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Sample the worker processes with py-spy (pip install py-spy) during the run.",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="fileintel-bench-"))
    try:
        started = time.perf_counter()
        paths = generate_corpus(workdir / "corpus", args.documents, args.seed)
        warmup = generate_corpus(workdir / "warm-up", WARMUP_DOCUMENTS, args.seed + 1)
        size = sum(p.stat().st_size for p in paths)
        print(
            f"corpus: {len(paths)} documents, {size / 1e6:.1f} MB "
            f"(txt/md/html/pdf, {MIN_BYTES // 1000}–{MAX_BYTES // 1000} KB, seed {args.seed}), "
            f"written in {time.perf_counter() - started:.1f} s; {os.cpu_count()} CPUs",
            flush=True,
        )
        # The machine's speed drifts during a run: each system round is compared with the
        # plain loops measured just before and just after it, and the median round counts.
        plains = [plain_loop(paths)]
        print(f"plain loop: {plains[0].rate:.1f} docs/s", flush=True)

        def between_plains(m: Measurement, name: str) -> tuple[Measurement, float]:
            _show(name, m)
            plains.append(plain_loop(paths))
            print(f"plain loop: {plains[-1].rate:.1f} docs/s", flush=True)
            return m, m.rate / ((plains[-2].rate + plains[-1].rate) / 2)

        shape = SystemShape(args.worker_processes, args.worker_threads, args.profile)
        rounds: list[tuple[Measurement, float]] = []
        for n in range(1, 0 if args.embedded_only else args.rounds + 1):
            real = system(paths, warmup, workdir, shape)
            real.mode += f" round {n}"
            rounds.append(between_plains(real, f"system round {n}"))
        embedded_rows: list[tuple[Measurement, float]] = []
        if not args.skip_embedded:
            for processes in (1, 2):
                emb = embedded(paths, warmup, workdir, processes, args.embedded_threads)
                embedded_rows.append(between_plains(emb, f"embedded {processes} process(es)"))
        mean_plain = statistics.mean(p.rate for p in plains)
        rows = [(p, p.rate / mean_plain) for p in plains] + rounds
        for extra in args.also:
            size, *assignments = extra.split(",")
            processes, threads = (int(n) for n in size.lower().split("x"))
            worker_env = tuple(tuple(a.split("=", 1)) for a in assignments)
            other = system(
                paths,
                warmup,
                workdir,
                SystemShape(processes, threads, args.profile, worker_env),
            )
            _show(f"system {extra}", other)
            rows.append((other, other.rate / mean_plain))
        rows += embedded_rows
        print()
        print(report(rows))
        met = True
        if rounds:
            ratio = statistics.median(r for _, r in rounds)
            met = ratio >= TARGET_RATIO
            print(
                f"\nsystem rounds: {', '.join(f'{r:.2f}' for _, r in rounds)}; "
                f"target: system >= {TARGET_RATIO:.2f} x plain loop; "
                f"measured (median round) {ratio:.2f}: {verdict(met)}"
            )
        if embedded_rows:
            two = embedded_rows[-1][1]
            print(
                f"embedded: 1 process {embedded_rows[0][1]:.2f}, 2 processes {two:.2f}; "
                f"target: 2 processes >= {TARGET_RATIO:.2f} x plain loop: "
                f"{verdict(two >= TARGET_RATIO)}"
            )
            met = met and two >= TARGET_RATIO
        return 0 if met else 1
    finally:
        if args.keep:
            print(f"corpus and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
