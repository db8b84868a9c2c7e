"""``collections status`` on a huge collection beside a tiny one.

``python -m benchmarks.status [--documents N] [--chunks-per-document K] [--calls C]``

Two collections are built in a database of the benchmark's own (``fileintel_bench_status``,
dropped at the end): ``small`` with 10 documents and ``big`` with 100,000 documents and
1,000,000 chunks. Rows are generated in SQL (``INSERT ... SELECT generate_series``); status
changes and the run go through the real ``request_processing`` and ``transition``, and the
maintained counters on the collection and run rows are set to what the rows say, so
``status`` shows no warning. Then the ``collections status --json`` logic (one read
transaction, ``find_collection`` + ``collection_status`` + JSON) is timed ``C`` times per
collection, interleaved.

Target: the big collection's median within 2x the small one's, and under 50 ms.
Set ``FILEINTEL_BENCH_PG_URL`` to use another server than the local one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from sqlalchemy import Engine, text

from benchmarks.common.databases import scratch_database
from benchmarks.common.report import verdict
from fileintel.db import make_engine, read_tx, write_tx
from fileintel.models.states import CollectionStatus
from fileintel.store.collections import create_collection, find_collection
from fileintel.store.runs import request_processing
from fileintel.store.status import collection_status
from fileintel.store.transitions import transition

DB_NAME = "fileintel_bench_status"
TARGET_FACTOR = 2.0
TARGET_MS = 50.0


def build_collection(engine: Engine, name: str, documents: int, chunks_per_doc: int) -> str:
    """A completed collection of ``documents`` done documents with their chunks."""
    chunks = documents * chunks_per_doc
    with write_tx(engine) as conn:
        collection_id = create_collection(conn, name, actor="bench")
        # Registration, in bulk: what register_documents writes for each file.
        conn.execute(
            text(
                "INSERT INTO documents (collection_id, path, size, sha256, media_type, state,"
                " attempt, lost_leases, chunk_count, embedded_count)"
                " SELECT :cid, '/bench/' || :name || '/doc-' || g || '.txt', 1000 + g,"
                " md5(:name || g::text) || md5(g::text || :name), 'text/plain', 'pending',"
                " 0, 0, 0, 0"
                " FROM generate_series(1, :n) AS g"
            ),
            {"cid": collection_id, "name": name, "n": documents},
        )
        conn.execute(
            text(
                "UPDATE collections SET documents_total = :n, documents_pending = :n"
                " WHERE id = :cid"
            ),
            {"cid": collection_id, "n": documents},
        )
    with write_tx(engine) as conn:
        run_id = request_processing(conn, collection_id, options={}, actor="bench")
        transition(
            conn,
            collection_id,
            CollectionStatus.PROCESSING,
            actor="bench",
            run_id=run_id,
            fence_run=True,
        )
    with write_tx(engine) as conn:
        # What the workers would have written: chunks, document states, counters.
        conn.execute(
            text(
                "INSERT INTO chunks (document_id, collection_id, ordinal, text, start_offset,"
                " end_offset, token_count, embedding, embedding_model, embedding_dim)"
                " SELECT d.id, d.collection_id, g, 'chunk ' || g || ' of ' || d.path, g * 100,"
                " g * 100 + 99, 20, decode('000102030405060708090a0b0c0d0e0f', 'hex'),"
                " 'bench', 4"
                " FROM documents d CROSS JOIN generate_series(0, :k - 1) AS g"
                " WHERE d.collection_id = :cid"
            ),
            {"cid": collection_id, "k": chunks_per_doc},
        )
        conn.execute(
            text(
                "UPDATE documents SET state = 'done', chunk_count = :k, embedded_count = :k,"
                " attempt = 1, finished_at = clock_timestamp() WHERE collection_id = :cid"
            ),
            {"cid": collection_id, "k": chunks_per_doc},
        )
        counters = (
            "documents_pending = 0, documents_processing = 0, documents_done = :n,"
            " documents_failed = 0, documents_skipped = 0"
        )
        conn.execute(
            text(
                f"UPDATE collections SET {counters}, chunks_total = :c, chunks_embedded = :c"
                " WHERE id = :cid"
            ),
            {"cid": collection_id, "n": documents, "c": chunks},
        )
        conn.execute(
            text(
                f"UPDATE runs SET {counters}, status = 'completed', started_at = requested_at,"
                " finished_at = clock_timestamp() WHERE id = :rid"
            ),
            {"rid": run_id, "n": documents},
        )
        transition(
            conn,
            collection_id,
            CollectionStatus.COMPLETED,
            actor="bench",
            run_id=run_id,
            fence_run=True,
            message=f"{documents} done",
        )
    return collection_id


def status_json(engine: Engine, name: str) -> str:
    """What ``fileintel collections status NAME --json`` does after start-up."""
    with read_tx(engine) as conn:
        view = collection_status(conn, find_collection(conn, name))
    return json.dumps(view, indent=2, default=str)


def check(engine: Engine, name: str, documents: int, chunks: int) -> None:
    """The generated collection looks right to ``status``: counters, coverage, no warning."""
    view = json.loads(status_json(engine, name))
    assert view["status"] == "completed", view
    assert view["documents"]["total"] == view["documents"]["done"] == documents, view
    assert view["chunks"] == chunks and view["embedding_coverage"] == 100.0, view
    assert view["warnings"] == [], view
    with read_tx(engine) as conn:
        rows = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM documents WHERE collection_id = :id),"
                " (SELECT count(*) FROM chunks WHERE collection_id = :id)"
            ),
            {"id": view["id"]},
        ).one()
    assert tuple(rows) == (documents, chunks), (tuple(rows), documents, chunks)


def timed(engine: Engine, name: str) -> float:
    started = time.perf_counter()
    status_json(engine, name)
    return (time.perf_counter() - started) * 1000


def timings(engine: Engine, names: list[str], calls: int) -> dict[str, list[float]]:
    """``calls`` timed status reads per collection, interleaved, after a few untimed ones."""
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(5):  # warm the pool and the statement cache
        for name in names:
            timed(engine, name)
    for _ in range(calls):
        for name in names:
            samples[name].append(timed(engine, name))
    return samples


def report(
    sizes: dict[str, int], chunks_per_document: int, samples: dict[str, list[float]]
) -> None:
    """Best and median per collection, and the big one's median against the target."""
    median = {name: statistics.median(s) for name, s in samples.items()}
    best = {name: min(s) for name, s in samples.items()}
    factor = median["big"] / median["small"]
    print(f"{'collection':<10} {'documents':>9} {'chunks':>9} {'best ms':>8} {'median ms':>9}")
    for name, n in sizes.items():
        print(
            f"{name:<10} {n:>9} {n * chunks_per_document:>9} "
            f"{best[name]:>8.2f} {median[name]:>9.2f}"
        )
    met = factor <= TARGET_FACTOR and median["big"] < TARGET_MS
    print(
        f"big / small (median): {factor:.2f}; target <= {TARGET_FACTOR} and "
        f"< {TARGET_MS:.0f} ms: {verdict(met)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.status")
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--chunks-per-document", type=int, default=10)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    sizes = {"small": 10, "big": args.documents}
    with scratch_database(DB_NAME) as url:
        engine = make_engine(url)
        try:
            for name, n in sizes.items():
                started = time.perf_counter()
                build_collection(engine, name, n, args.chunks_per_document)
                print(
                    f"built '{name}': {n} documents, {n * args.chunks_per_document} chunks "
                    f"in {time.perf_counter() - started:.1f} s",
                    flush=True,
                )
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            for name, n in sizes.items():
                check(engine, name, n, n * args.chunks_per_document)
            report(sizes, args.chunks_per_document, timings(engine, list(sizes), args.calls))
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
