"""Status transitions per second: the real transition function beside raw psycopg2.

``python -m benchmarks.bench_transitions [--seconds S] [--rounds R] [--collections N]
[--profile] [--variants]``

A pool of collections is cycled ``queued → processing → completed → queued …`` round-robin,
one transaction per move. Each move is the guarded UPDATE (with a version compare-and-set),
the history row and the outbox event:

- ``fileintel``: ``transition(...)`` inside ``write_tx`` on an engine from ``make_engine``,
  exactly as the workers and the CLI call it;
- ``raw``: the same three statements as plain SQL through one psycopg2 connection;
- with ``--variants``, two candidate ways of making ``transition()`` cheaper: ``prebuilt``
  (the same SQLAlchemy statements built once with bind parameters, no pre-ping) and ``cte``
  (the three writes as one data-modifying statement, one round trip).

They run in 1 and in 2 processes (multiprocessing, spawn), in interleaved windows of fixed
length (raw, fileintel, raw, ...). The best window of each kind is compared: other load on a
shared machine only ever slows a window down. Client CPU per move is reported too; it does
not depend on that load. The benchmark creates and drops its own PostgreSQL database
(``fileintel_bench_tx``); set ``FILEINTEL_BENCH_PG_URL`` to use another server than the
local one.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg2
from sqlalchemy import bindparam, create_engine, insert, make_url, update

from benchmarks.scratch import create_database, drop_database
from fileintel.db import db_now, make_engine, write_tx
from fileintel.models.states import CollectionStatus, allowed_sources
from fileintel.models.tables import collections_t, outbox_t, status_events_t
from fileintel.models.transitions import STATUS_CHANGED, transition
from fileintel.outbox.writer import iso
from fileintel.store.collections import create_collection

DB_NAME = "fileintel_bench_tx"
TARGET_RATIO = 0.7

S = CollectionStatus
NEXT = {S.QUEUED: S.PROCESSING, S.PROCESSING: S.COMPLETED, S.COMPLETED: S.QUEUED}
SOURCES = {target: tuple(s.value for s in allowed_sources(target)) for target in NEXT.values()}


# --- the database -------------------------------------------------------------------------


def make_pool(url: str, n: int) -> list[str]:
    """``n`` collections, each moved to ``queued`` so they can cycle."""
    engine = make_engine(url)
    ids = []
    with write_tx(engine) as conn:
        for i in range(n):
            collection_id = create_collection(conn, f"bench-{i:04d}", actor="bench")
            transition(conn, collection_id, S.QUEUED, actor="bench")
            ids.append(collection_id)
    engine.dispose()
    return ids


def pool_state(url: str, ids: list[str]) -> dict[str, tuple[str, int]]:
    """Each collection's (status, version), read at the start of a phase."""
    conn = psycopg2.connect(psycopg_dsn(url))
    with conn.cursor() as cur:
        cur.execute("SELECT id, status, version FROM collections WHERE id = ANY(%s)", (ids,))
        state = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
    conn.close()
    return state


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- the two ways of making one move ------------------------------------------------------


class FileIntelMover:
    """One move = ``transition()`` in ``write_tx`` (guarded UPDATE, history, outbox)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        with self.engine.connect():  # open the pooled connection before timing starts
            pass

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        with write_tx(self.engine) as conn:
            change = transition(
                conn,
                collection_id,
                target,
                actor="bench",
                message=f"bench: {target.value}",
                expected_version=version,
            )
        return change.version

    def close(self) -> None:
        self.engine.dispose()


RAW_UPDATE = """
UPDATE collections
   SET status = %(to)s, previous_status = status, status_updated_at = clock_timestamp(),
       status_message = %(message)s, version = version + 1, last_seq = last_seq + 1
 WHERE id = %(id)s AND status IN %(sources)s AND version = %(version)s
RETURNING name, previous_status, last_seq, version, status_updated_at
"""
RAW_HISTORY = """
INSERT INTO status_events
       (collection_id, seq, run_id, from_status, to_status, message, actor, event_id, at)
VALUES (%s, %s, NULL, %s, %s, %s, 'bench', %s, %s)
"""
RAW_OUTBOX = """
INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
VALUES ('event', %s, %s, %s, clock_timestamp(), clock_timestamp(), 0)
RETURNING id
"""


def event_payload(
    event_id: str,
    collection_id: str,
    name: str,
    seq: int,
    previous: str,
    to: str,
    message: str,
    at: Any,
) -> dict[str, Any]:
    """The outbox payload transition() writes for a status change."""
    return {
        "event_id": event_id,
        "type": STATUS_CHANGED,
        "collection_id": collection_id,
        "collection_name": name,
        "run_id": None,
        "seq": seq,
        "from": previous,
        "to": to,
        "message": message,
        "actor": "bench",
        "at": iso(at),
    }


class RawMover:
    """One move = the same three statements as plain SQL on a psycopg2 connection."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg2.connect(psycopg_dsn(url))

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        message = f"bench: {target.value}"
        with self.conn.cursor() as cur:
            cur.execute(
                RAW_UPDATE,
                {
                    "to": target.value,
                    "message": message,
                    "id": collection_id,
                    "sources": SOURCES[target],
                    "version": version,
                },
            )
            row = cur.fetchone()
            if row is None:
                self.conn.rollback()
                raise RuntimeError(f"collection {collection_id} did not move to {target}")
            name, previous, seq, new_version, at = row
            event_id = str(uuid.uuid4())
            cur.execute(
                RAW_HISTORY, (collection_id, seq, previous, target.value, message, event_id, at)
            )
            payload = event_payload(
                event_id, collection_id, name, seq, previous, target.value, message, at
            )
            cur.execute(RAW_OUTBOX, (STATUS_CHANGED, collection_id, json.dumps(payload)))
            cur.fetchone()
        self.conn.commit()
        return int(new_version)

    def close(self) -> None:
        self.conn.close()


# --- candidate improvements (``--variants``): what a faster transition() could do --------

_c = collections_t.c
PREBUILT_UPDATE = (
    update(collections_t)
    .where(
        _c.id == bindparam("cid"),
        _c.status.in_(bindparam("sources", expanding=True)),
        _c.version == bindparam("expected"),
    )
    .values(
        status=bindparam("target"),
        previous_status=_c.status,
        status_updated_at=db_now(),
        status_message=bindparam("msg"),
        version=_c.version + 1,
        last_seq=_c.last_seq + 1,
    )
    .returning(_c.name, _c.previous_status, _c.last_seq, _c.version, _c.status_updated_at)
)
PREBUILT_HISTORY = insert(status_events_t)
PREBUILT_OUTBOX = insert(outbox_t).values(created_at=db_now(), available_at=db_now())


class PrebuiltMover(FileIntelMover):
    """The same three SQLAlchemy statements, built once with bind parameters (their cache
    keys are memoised), on an engine without ``pool_pre_ping``."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=5)
        with self.engine.connect():
            pass

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        message = f"bench: {target.value}"
        with write_tx(self.engine) as conn:
            row = conn.execute(
                PREBUILT_UPDATE,
                {
                    "cid": collection_id,
                    "sources": list(SOURCES[target]),
                    "expected": version,
                    "target": target.value,
                    "msg": message,
                },
            ).one()
            event_id = str(uuid.uuid4())
            conn.execute(
                PREBUILT_HISTORY,
                {
                    "collection_id": collection_id,
                    "seq": row.last_seq,
                    "run_id": None,
                    "from_status": row.previous_status,
                    "to_status": target.value,
                    "message": message,
                    "actor": "bench",
                    "event_id": event_id,
                    "at": row.status_updated_at,
                },
            )
            conn.execute(
                PREBUILT_OUTBOX,
                {
                    "kind": "event",
                    "topic": STATUS_CHANGED,
                    "key": collection_id,
                    "attempts": 0,
                    "payload": event_payload(
                        event_id,
                        collection_id,
                        row.name,
                        row.last_seq,
                        row.previous_status,
                        target.value,
                        message,
                        row.status_updated_at,
                    ),
                },
            )
        return int(row.version)


CTE_MOVE = """
WITH moved AS (
  UPDATE collections
     SET status = %(to)s, previous_status = status, status_updated_at = clock_timestamp(),
         status_message = %(message)s, version = version + 1, last_seq = last_seq + 1
   WHERE id = %(id)s AND status IN %(sources)s AND version = %(version)s
  RETURNING id, name, previous_status, last_seq, version, status_updated_at
), history AS (
  INSERT INTO status_events
         (collection_id, seq, run_id, from_status, to_status, message, actor, event_id, at)
  SELECT id, last_seq, NULL, previous_status, %(to)s, %(message)s, 'bench', %(event_id)s,
         status_updated_at
    FROM moved
), event AS (
  INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
  SELECT 'event', 'collection.status_changed', id,
         json_build_object(
           'event_id', %(event_id)s::text, 'type', 'collection.status_changed',
           'collection_id', id, 'collection_name', name, 'run_id', NULL, 'seq', last_seq,
           'from', previous_status, 'to', %(to)s::text, 'message', %(message)s::text,
           'actor', 'bench',
           'at', to_char(status_updated_at AT TIME ZONE 'UTC',
                         'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
         clock_timestamp(), clock_timestamp(), 0
    FROM moved
)
SELECT version FROM moved
"""


class CteMover(FileIntelMover):
    """The whole move as one data-modifying statement (PostgreSQL), through SQLAlchemy's
    ``exec_driver_sql`` on an engine without ``pool_pre_ping``: one round trip, not three."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=5)
        with self.engine.connect():
            pass

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        with write_tx(self.engine) as conn:
            new_version = conn.exec_driver_sql(
                CTE_MOVE,
                {
                    "to": target.value,
                    "message": f"bench: {target.value}",
                    "id": collection_id,
                    "sources": SOURCES[target],
                    "version": version,
                    "event_id": str(uuid.uuid4()),
                },
            ).scalar_one()
        return int(new_version)


MOVERS: dict[str, Callable[[str], Any]] = {
    "raw": RawMover,
    "fileintel": FileIntelMover,
    "prebuilt": PrebuiltMover,
    "cte": CteMover,
}


# --- running the phases -------------------------------------------------------------------


def cycle(mover: Any, state: dict[str, tuple[str, int]], seconds: float) -> int:
    """Move the collections round-robin for ``seconds``; return the number of moves.

    ``state`` maps collection id to (status, version) and is kept up to date in place.
    """
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for cid, (status, version) in state.items():
            target = NEXT[S(status)]
            state[cid] = (target.value, mover.move(cid, target, version))
            done += 1
    return done


def _worker(
    url: str,
    kinds: list[str],
    state: dict[str, tuple[str, int]],
    barrier: Any,
    jobs: Any,
    out: Any,
) -> None:
    """A benchmark process: holds one mover per kind; runs ``(kind, seconds)`` jobs until None."""
    movers = {kind: MOVERS[kind](url) for kind in kinds}  # connect before any timing
    while (job := jobs.get()) is not None:
        kind, seconds = job
        barrier.wait()
        started, cpu = time.perf_counter(), time.process_time()
        count = cycle(movers[kind], state, seconds)
        out.put((count, time.perf_counter() - started, time.process_time() - cpu))
    for mover in movers.values():
        mover.close()


@dataclass
class Window:
    """One timed window of one kind: transactions per second and client CPU per move."""

    rate: float
    cpu_us: float


class Workers:
    """``n`` spawned benchmark processes sharing the pool of collections between them."""

    def __init__(self, url: str, ids: list[str], n: int, kinds: list[str]) -> None:
        state = pool_state(url, ids)
        ctx = multiprocessing.get_context("spawn")
        self.barrier = ctx.Barrier(n)
        self.out: Any = ctx.Queue()
        self.jobs: list[Any] = [ctx.Queue() for _ in range(n)]
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(
                    url,
                    kinds,
                    {c: state[c] for c in ids[k::n]},
                    self.barrier,
                    self.jobs[k],
                    self.out,
                ),
            )
            for k in range(n)
        ]
        for p in self.procs:
            p.start()

    def run(self, kind: str, seconds: float) -> Window:
        for q in self.jobs:
            q.put((kind, seconds))
        results = [self.out.get(timeout=seconds * 10 + 120) for _ in self.procs]
        count = sum(r[0] for r in results)
        elapsed = max(r[1] for r in results)
        cpu = sum(r[2] for r in results)
        return Window(rate=count / elapsed, cpu_us=1e6 * cpu / count)

    def close(self) -> None:
        for q in self.jobs:
            q.put(None)
        for p in self.procs:
            p.join(timeout=60)


def profile(url: str, ids: list[str], seconds: float) -> str:
    """cProfile of the fileintel mover in this process; the top functions by cumulative time."""
    mover = FileIntelMover(url)
    state = pool_state(url, ids)
    cycle(mover, state, 0.5)  # warm the statement cache
    profiler = cProfile.Profile()
    profiler.enable()
    count = cycle(mover, state, seconds)
    profiler.disable()
    mover.close()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("cumulative").print_stats(30)
    return f"{count} moves profiled\n{buffer.getvalue()}"


@dataclass
class Report:
    windows: dict[tuple[str, int], list[Window]]

    def best(self, kind: str, processes: int) -> float:
        return max(w.rate for w in self.windows[(kind, processes)])

    def median(self, kind: str, processes: int) -> float:
        return statistics.median(w.rate for w in self.windows[(kind, processes)])

    def cpu(self, kind: str, processes: int) -> float:
        return statistics.median(w.cpu_us for w in self.windows[(kind, processes)])

    def ratio(self, kind: str, processes: int) -> float:
        return self.best(kind, processes) / self.best("raw", processes)

    def lines(self) -> list[str]:
        out = [
            "processes  kind       best tx/s  median tx/s  client CPU us/tx  vs raw (best)",
        ]
        kinds = list(dict.fromkeys(k for k, _ in self.windows))
        for processes in sorted({p for _, p in self.windows}):
            for kind in kinds:
                ratio = ""
                if kind != "raw":
                    r = self.ratio(kind, processes)
                    ratio = f"{r:.2f}"
                    if kind == "fileintel":
                        ratio += f" ({'met' if r >= TARGET_RATIO else 'NOT met'})"
                out.append(
                    f"{processes:>9}  {kind:<9}  {self.best(kind, processes):>9.0f}  "
                    f"{self.median(kind, processes):>11.0f}  "
                    f"{self.cpu(kind, processes):>16.0f}  {ratio}"
                )
        out.append(f"target: fileintel >= {TARGET_RATIO} x raw")
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_transitions")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one window")
    parser.add_argument("--rounds", type=int, default=3, help="windows per kind, interleaved")
    parser.add_argument("--collections", type=int, default=200, help="size of the pool")
    parser.add_argument("--profile", action="store_true", help="also cProfile the fileintel path")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="also time candidate improvements (prebuilt statements; one CTE statement)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    kinds = ["raw", "fileintel"] + (["prebuilt", "cte"] if args.variants else [])

    url = create_database(DB_NAME)
    try:
        ids = make_pool(url, args.collections)
        print(
            f"{args.collections} collections cycling queued -> processing -> completed -> "
            f"queued; {args.rounds} interleaved windows of {args.seconds:.0f} s per kind"
        )
        windows: dict[tuple[str, int], list[Window]] = {}
        for processes in (1, 2):
            workers = Workers(url, ids, processes, kinds)
            try:
                for _ in range(args.rounds):
                    for kind in kinds:
                        window = workers.run(kind, args.seconds)
                        windows.setdefault((kind, processes), []).append(window)
                        print(
                            f"  {processes} process(es) {kind:<9} {window.rate:7.0f} tx/s "
                            f"{window.cpu_us:6.0f} us CPU/tx",
                            flush=True,
                        )
            finally:
                workers.close()
        print("\n".join(Report(windows).lines()))
        if args.profile:
            print(profile(url, ids, min(args.seconds, 4.0)))
    finally:
        drop_database(DB_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
