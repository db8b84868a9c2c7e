"""``fileintel web`` against the in-process calls it wraps, and its event fan-out.

``python -m benchmarks.web [--documents N] [--collections C] [--clients K] [--run R]
[--calls N] [--skip api,pages,fanout]``

On PostgreSQL, in databases of the benchmark's own (dropped at the end), with the
application served by uvicorn in this process on 127.0.0.1:

- **api**: ``GET /api/collections/big`` on the status benchmark's collection (100,000
  documents, 1,000,000 chunks, built by ``benchmarks.status.bench.build_collection``)
  beside the in-process ``collection_status`` + JSON of ``collections status --json``,
  interleaved. Target: median within 2x.
- **pages**: ``GET /`` (the collections page: the first 100 of 10,000 collections) beside
  ``collections list --json``'s work for the same 10,000 (``list_collections`` + JSON),
  interleaved. Target: median under 2x.
- **fanout**: 200 SSE clients while a 1,000-document run completes (``benchmarks.web.fanout``).
  Targets: every client gets every event; the server's statements do not grow with the
  clients (one reader); commit → client p99 reported beside commit → Redis Stream p99.

``FILEINTEL_BENCH_PG_URL`` / ``FILEINTEL_BENCH_REDIS_URL`` point it at other servers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import httpx
from sqlalchemy import Engine, text

from benchmarks.common.databases import scratch_database
from benchmarks.common.report import verdict
from benchmarks.status.bench import build_collection, status_json
from benchmarks.web.fanout import measure
from benchmarks.web.server import serve
from fileintel.db import make_engine, read_tx, write_tx
from fileintel.store.collections import create_collection
from fileintel.store.status import list_collections

REDIS_URL = os.environ.get("FILEINTEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TARGET_FACTOR = 2.0


def interleaved(
    first: Callable[[], object], second: Callable[[], object], calls: int
) -> tuple[float, float]:
    """Median milliseconds of each, called alternately ``calls`` times after a warm-up."""
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(calls + 5):
        for j, call in enumerate((first, second)):
            started = time.perf_counter()
            call()
            if i >= 5:
                samples[j].append((time.perf_counter() - started) * 1000)
    return statistics.median(samples[0]), statistics.median(samples[1])


def compare(label: str, web: str, base: str, web_ms: float, base_ms: float) -> bool:
    factor = web_ms / base_ms
    met = factor <= TARGET_FACTOR
    print(f"  {web:<34} median {web_ms:8.2f} ms")
    print(f"  {base:<34} median {base_ms:8.2f} ms")
    print(f"  {label}: {factor:.2f}x; target <= {TARGET_FACTOR}x: {verdict(met)}")
    return met


def bench_api(documents: int, calls: int) -> bool:
    print(f"== api: /api/collections/big, {documents} documents, {documents * 10} chunks")
    with scratch_database("fileintel_bench_web_api") as url:
        engine = make_engine(url)
        try:
            build_collection(engine, "big", documents, 10)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            with serve(url) as served, httpx.Client() as client:

                def over_http() -> object:
                    response = client.get(f"{served.url}/api/collections/big")
                    response.raise_for_status()
                    return response.json()

                web_ms, base_ms = interleaved(over_http, lambda: status_json(engine, "big"), calls)
            return compare(
                "HTTP / in-process",
                "GET /api/collections/big",
                "collection_status + JSON",
                web_ms,
                base_ms,
            )
        finally:
            engine.dispose()


def make_collections(engine: Engine, n: int) -> None:
    """``n`` collections through the real ``create_collection``, 1,000 per transaction."""
    for start in range(0, n, 1000):
        with write_tx(engine) as conn:
            for i in range(start, min(n, start + 1000)):
                create_collection(conn, f"collection-{i:05d}", actor="bench")


def bench_pages(collections: int, calls: int) -> bool:
    print(f"== pages: the collections page with {collections} collections")
    with scratch_database("fileintel_bench_web_pages") as url:
        engine = make_engine(url)
        try:
            make_collections(engine, collections)

            def list_json() -> object:
                with read_tx(engine) as conn:
                    return json.dumps(list_collections(conn), indent=2, default=str)

            with serve(url) as served, httpx.Client() as client:

                def page() -> object:
                    response = client.get(f"{served.url}/")
                    response.raise_for_status()
                    return response.text

                assert page().count('class="card"') == 100  # type: ignore[attr-defined]
                web_ms, base_ms = interleaved(page, list_json, calls)
            return compare(
                "page / list --json",
                "GET / (first 100)",
                f"list_collections({collections}) + JSON",
                web_ms,
                base_ms,
            )
        finally:
            engine.dispose()


def bench_fanout(clients: int, documents: int) -> bool:
    print(f"== fanout: {clients} SSE clients, a {documents}-document run (and 1 client)")
    results = []
    for n in (1, clients):
        with scratch_database("fileintel_bench_web_fanout") as url:
            engine = make_engine(url)
            try:
                results.append(measure(url, engine, REDIS_URL, n, documents, interval=0.005))
            finally:
                engine.dispose()
    one, many = results
    everyone = many.complete_clients == clients and one.complete_clients == 1
    # One reader: the statements follow the run, not the clients (a margin for timing).
    one_reader = many.statements <= 1.5 * one.statements + 50
    print(f"  clients with every event          {many.complete_clients} of {clients}")
    print(f"  reconnections (Last-Event-ID)     {many.reconnects}")
    print(f"  server statements, {clients:>3} clients   {many.statements}")
    print(f"  server statements,   1 client     {one.statements}")
    sse, redis = (many.sse_p50_ms, many.sse_p99_ms), (many.redis_p50_ms, many.redis_p99_ms)
    print(f"  commit -> SSE client    p50 {sse[0]:7.1f} ms  p99 {sse[1]:7.1f} ms")
    print(f"  the same, 1 client      p50 {one.sse_p50_ms:7.1f} ms  p99 {one.sse_p99_ms:7.1f} ms")
    print(f"  commit -> Redis Stream  p50 {redis[0]:7.1f} ms  p99 {redis[1]:7.1f} ms")
    print(f"  every client, every event: {verdict(everyone)}; one reader: {verdict(one_reader)}")
    return everyone and one_reader


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web")
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--collections", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--run", type=int, default=1000, help="documents of the fan-out run")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    skip = set(filter(None, args.skip.split(",")))
    met = True
    if "api" not in skip:
        met &= bench_api(args.documents, args.calls)
    if "pages" not in skip:
        met &= bench_pages(args.collections, args.calls)
    if "fanout" not in skip:
        met &= bench_fanout(args.clients, args.run)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
