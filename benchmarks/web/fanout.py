"""200 SSE clients while a 1,000-document run completes.

A run of ``documents`` documents is requested and begun through the store; then this
process does what workers do, one document every ``interval`` seconds: claim it and commit
its outcome (no pipeline: an empty result), each commit writing its ``document.done`` event.
Meanwhile ``clients`` SSE clients follow ``/api/events`` of an in-process server, and a real
``fileintel relay`` publishes the same events to a Redis Stream. Reported: whether every
client received every event, the statements the server sent (one reader: they do not grow
with the clients), and commit → client p99 beside commit → Redis Stream p99.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import redis
from sqlalchemy import Engine, func, select

from benchmarks.common.processes import fileintel_environment, start_fileintel, stop_fileintel
from benchmarks.web.server import serve
from fileintel.db import read_tx, write_tx
from fileintel.messaging import PROCESS_DOCUMENT_ACTOR
from fileintel.models.tables import outbox_t
from fileintel.pipeline import ProcessedDocument
from fileintel.store.collections import create_collection
from fileintel.store.document_work import commit_outcome, take_document
from fileintel.store.documents import FileFacts, register_documents
from fileintel.store.lifecycle import begin_run
from fileintel.store.runs import request_processing

LEASE_SECONDS = 60.0
EMPTY = ProcessedDocument(chunks=[], embeddings=None, embedding_model=None, metadata=None)


@dataclass
class Arrivals:
    """When each document's event arrived, per receiver (monotonic seconds)."""

    times: dict[int, dict[int, float]] = field(default_factory=dict)
    reconnects: int = 0

    def note(self, receiver: int, document_id: int) -> None:
        self.times.setdefault(receiver, {}).setdefault(document_id, time.monotonic())


@dataclass
class FanoutResult:
    clients: int
    documents: int
    complete_clients: int
    reconnects: int
    statements: int
    sse_p50_ms: float
    sse_p99_ms: float
    redis_p50_ms: float
    redis_p99_ms: float


def prepare_run(engine: Engine, documents: int) -> tuple[str, list[tuple[int, int]]]:
    """A begun run of ``documents`` registered documents: its id, (document, attempt)s."""
    facts = [
        FileFacts(
            path=f"/bench/fanout/doc-{i:05d}.txt",
            size=100,
            sha256=hashlib.sha256(f"fanout-{i}".encode()).hexdigest(),
            media_type="text/plain",
        )
        for i in range(documents)
    ]
    with write_tx(engine) as conn:
        collection_id = create_collection(conn, "fanout", actor="bench")
        register_documents(conn, collection_id, facts)
        run_id = request_processing(conn, collection_id, options={}, actor="bench")
    with write_tx(engine) as conn:
        begin_run(conn, run_id, actor="bench")
    o = outbox_t.c
    with read_tx(engine) as conn:
        payloads = conn.execute(select(o.payload).where(o.topic == PROCESS_DOCUMENT_ACTOR)).all()
    work = [(int(p.payload["args"][1]), int(p.payload["args"][2])) for p in payloads]
    return run_id, sorted(work)


def work_through(
    engine: Engine, run_id: str, work: list[tuple[int, int]], interval: float
) -> dict[int, float]:
    """Claim and finish each document, ``interval`` apart; each commit's return time."""
    committed: dict[int, float] = {}
    next_at = time.monotonic()
    for document_id, attempt in work:
        claim = take_document(engine, run_id, document_id, attempt, LEASE_SECONDS)
        commit_outcome(engine, claim, EMPTY)
        committed[document_id] = time.monotonic()
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    return committed


async def _client(url: str, receiver: int, arrivals: Arrivals, until: asyncio.Event) -> None:
    """One EventSource: when the server ends its stream (it drops a client that falls too
    far behind), it reconnects with ``Last-Event-ID``, as browsers do."""
    last: str | None = None
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
        while not until.is_set():
            headers = {"Last-Event-ID": last} if last else {}
            async with client.stream("GET", url, headers=headers) as response:
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        last = line[4:]
                    elif line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event["type"].startswith("document."):
                            arrivals.note(receiver, int(event["document_id"]))
                    if until.is_set():
                        return
            arrivals.reconnects += 1


def run_clients(
    url: str, clients: int, arrivals: Arrivals, connected: threading.Event, stop: threading.Event
) -> None:
    """``clients`` SSE clients in one event loop (this thread) until ``stop``."""

    async def main() -> None:
        until = asyncio.Event()
        tasks = [asyncio.create_task(_client(url, i, arrivals, until)) for i in range(clients)]
        await asyncio.sleep(1.0)  # let every stream open before the run starts
        connected.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        until.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def follow_stream(
    redis_url: str, stream: str, arrivals: Arrivals, expected: int, stop: threading.Event
) -> None:
    """Note each document event's arrival on the Redis Stream (receiver -1)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    position = "0-0"
    while not stop.is_set() and len(arrivals.times.get(-1, {})) < expected:
        for _, entries in client.xread({stream: position}, block=200, count=1000) or []:
            for entry_id, entry in entries:
                position = entry_id
                if entry.get("type", "").startswith("document."):
                    arrivals.note(-1, int(entry["document_id"]))
    client.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


def measure(
    url: str, engine: Engine, redis_url: str, clients: int, documents: int, interval: float
) -> FanoutResult:
    """The whole scenario on the database at ``url`` (migrated, empty)."""
    stream = f"fileintel:bench:web:{uuid.uuid4().hex[:8]}"
    env = fileintel_environment(FILEINTEL_EVENTS_STREAM=stream)
    relay = start_fileintel(
        ["--database-url", url, "--events-url", redis_url, "--broker-url", "stub://", "relay"],
        env,
    )
    arrivals = Arrivals()
    stop = threading.Event()
    try:
        run_id, work = prepare_run(engine, documents)
        with read_tx(engine) as conn:  # what a page embeds: the position it was rendered at
            position = conn.execute(select(func.max(outbox_t.c.id))).scalar_one()
        with serve(url) as served:
            connected = threading.Event()
            sse = threading.Thread(
                target=run_clients,
                args=(
                    f"{served.url}/api/events?after={position}",
                    clients,
                    arrivals,
                    connected,
                    stop,
                ),
            )
            sse.start()
            connected.wait(60)
            stream_reader = threading.Thread(
                target=follow_stream, args=(redis_url, stream, arrivals, documents, stop)
            )
            stream_reader.start()
            before = served.queries
            committed = work_through(engine, run_id, work, interval)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(
                len(arrivals.times.get(r, {})) == documents for r in (-1, *range(clients))
            ):
                time.sleep(0.1)
            statements = served.queries - before
            stop.set()
            sse.join(30)
            stream_reader.join(30)
        sse_lags = [
            (at - committed[doc]) * 1000
            for receiver, times in arrivals.times.items()
            if receiver >= 0
            for doc, at in times.items()
        ]
        redis_lags = [(at - committed[d]) * 1000 for d, at in arrivals.times.get(-1, {}).items()]
        complete = sum(1 for r in range(clients) if len(arrivals.times.get(r, {})) == documents)
        return FanoutResult(
            clients=clients,
            documents=documents,
            complete_clients=complete,
            reconnects=arrivals.reconnects,
            statements=statements,
            sse_p50_ms=percentile(sse_lags, 0.5),
            sse_p99_ms=percentile(sse_lags, 0.99),
            redis_p50_ms=percentile(redis_lags, 0.5),
            redis_p99_ms=percentile(redis_lags, 0.99),
        )
    finally:
        stop.set()
        stop_fileintel(relay)
        redis.Redis.from_url(redis_url).delete(stream)
