"""Outbox relay: drain rate and commit→publish latency, beside a minimal raw loop.

``python -m benchmarks.relay [--backlog N] [--keys K] [--rounds R] [--events E]
[--profile]``

On PostgreSQL + Redis, in one run:

- **drain**: a backlog of ``--backlog`` event rows (default 200 000, spread over ``--keys``
  collections), inserted with one ``INSERT … SELECT generate_series``, is published to a
  Redis Stream. ``fileintel`` is ``Relay.run_once()`` in a loop, as the daemon runs it;
  ``raw`` is the ceiling: one psycopg2 connection claiming 500 rows with ``FOR UPDATE SKIP
  LOCKED``, one pipelined XADD, ``DELETE … WHERE id = ANY(…)``, commit. Each gets a fresh
  backlog; with ``--rounds`` > 1 they alternate and the best round of each counts.
- **latency**: a writer commits one event every 10 ms; a consumer XREADs the stream; the
  latency is the consumer's receive time minus the writer's commit-return time. Three
  relays: the real ``fileintel relay`` process (LISTEN/NOTIFY), the same with the NOTIFY
  trigger dropped so it polls (``--poll-interval 1``), and the raw loop as a process
  woken by LISTEN/NOTIFY.

Targets: drain ≥ 0.5 × raw; p99 latency with LISTEN/NOTIFY ≤ 3 × raw's and under 10 ms.
The benchmark creates and drops its own database (``fileintel_bench_relay``) and deletes its
stream; ``FILEINTEL_BENCH_PG_URL`` / ``FILEINTEL_BENCH_REDIS_URL`` point it elsewhere.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import select
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg2
import redis

from benchmarks.common.databases import psycopg_dsn, scratch_database
from benchmarks.common.processes import fileintel_environment, start_fileintel, stop_fileintel
from benchmarks.common.profiling import cprofile_top
from benchmarks.common.report import verdict
from fileintel.config import Settings
from fileintel.db import make_engine
from fileintel.messaging.broker import build_broker
from fileintel.outbox.relay import build_relay

REDIS_URL = os.environ.get("FILEINTEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_NAME = "fileintel_bench_relay"
RAW_BATCH = 500
WRITE_INTERVAL = 0.010
DRAIN_TARGET = 0.5
P99_TARGET_RATIO = 3.0
P99_TARGET_MS = 10.0

FILL = """
INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
SELECT 'event', 'collection.status_changed', 'c-' || (g %% %(keys)s),
       json_build_object(
           'event_id', md5(%(salt)s || g::text), 'type', 'collection.status_changed',
           'collection_id', 'c-' || (g %% %(keys)s), 'collection_name', 'bench ' || (g %% %(keys)s),
           'run_id', md5(g::text), 'seq', g, 'from', 'queued', 'to', 'processing',
           'message', NULL, 'actor', 'bench',
           'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
       clock_timestamp(), clock_timestamp(), 0
  FROM generate_series(1, %(n)s) AS g
"""
WRITE_ONE = """
INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
VALUES ('event', 'collection.status_changed', %s, %s, clock_timestamp(), clock_timestamp(), 0)
"""
RAW_CLAIM = """
SELECT id, payload FROM outbox WHERE published_at IS NULL
 ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""
RAW_DELETE = "DELETE FROM outbox WHERE id = ANY(%s)"
DROP_TRIGGER = "DROP TRIGGER outbox_notify ON outbox"
CREATE_TRIGGER = (
    "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
    "FOR EACH STATEMENT EXECUTE FUNCTION fileintel_outbox_notify()"
)


# --- the database and the stream ----------------------------------------------------------


def execute(url: str, *statements: str, params: dict[str, Any] | None = None) -> None:
    conn = psycopg2.connect(psycopg_dsn(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement, params)
    conn.close()


def fill(url: str, n: int, keys: int) -> None:
    """A fresh backlog of ``n`` unpublished events (the table emptied and vacuumed first)."""
    execute(url, "TRUNCATE outbox RESTART IDENTITY")
    execute(url, FILL, params={"n": n, "keys": keys, "salt": uuid.uuid4().hex})
    execute(url, "VACUUM ANALYZE outbox")


def fields(payload: dict[str, Any]) -> dict[str, str]:
    """The raw loop's flattening (the same stream entry as the relay's)."""
    return {
        k: "" if v is None else json.dumps(v) if isinstance(v, dict | list) else str(v)
        for k, v in payload.items()
    }


# --- the raw loop ---------------------------------------------------------------------------


def raw_pass(conn: Any, client: redis.Redis, stream: str) -> int:
    """Claim, XADD (one pipeline), delete, commit; return the rows published."""
    with conn.cursor() as cur:
        cur.execute(RAW_CLAIM, (RAW_BATCH,))
        rows = cur.fetchall()
        if rows:
            pipe = client.pipeline(transaction=False)
            for _, payload in rows:
                pipe.xadd(stream, fields(payload), maxlen=1_000_000, approximate=True)
            pipe.execute()
            cur.execute(RAW_DELETE, ([r[0] for r in rows],))
    conn.commit()
    return len(rows)


def raw_daemon(url: str, stream: str, stop: Any) -> None:
    """The raw loop as a daemon woken by LISTEN/NOTIFY (run in its own process)."""
    conn = psycopg2.connect(psycopg_dsn(url))
    listen = psycopg2.connect(psycopg_dsn(url))
    listen.autocommit = True
    with listen.cursor() as cur:
        cur.execute("LISTEN fileintel_outbox")
    client = redis.Redis.from_url(REDIS_URL)
    while not stop.is_set():
        while raw_pass(conn, client, stream) == RAW_BATCH:
            pass
        listen.poll()
        if not listen.notifies:
            select.select([listen], [], [], 1.0)
            listen.poll()
        listen.notifies.clear()


# --- drain --------------------------------------------------------------------------------


@dataclass
class Drain:
    rows: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def drain_raw(url: str, stream: str, n: int) -> Drain:
    conn = psycopg2.connect(psycopg_dsn(url))
    client = redis.Redis.from_url(REDIS_URL)
    started, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        got = raw_pass(conn, client, stream)
        if not got:
            break
        done += got
    result = Drain(done, time.perf_counter() - started, time.process_time() - cpu)
    conn.close()
    client.close()
    return result


def drain_fileintel(url: str, stream: str, n: int, profile: bool = False) -> Drain:
    settings = Settings(database_url=url, events_url=REDIS_URL, events_stream=stream)
    engine = make_engine(url)
    relay = build_relay(settings, engine, broker=build_broker("stub://"))
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    done = 0
    if profiler:
        profiler.enable()
    while done < n:
        result = relay.run_once()
        if not result.claimed:
            break
        done += result.published
    if profiler:
        profiler.disable()
    drained = Drain(done, time.perf_counter() - started, time.process_time() - cpu)
    relay.close()
    engine.dispose()
    if profiler:
        print(cprofile_top(profiler, 25))
    return drained


# --- latency ------------------------------------------------------------------------------


@dataclass
class Latency:
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


def measure_latency(url: str, stream: str, events: int) -> Latency:
    """Commit ``events`` events 10 ms apart; the stream consumer's receive − commit times."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    last = client.xrevrange(stream, count=1)
    position = last[0][0] if last else "0-0"
    committed: dict[str, float] = {}
    received: dict[str, float] = {}
    done = threading.Event()

    def consume() -> None:
        nonlocal position
        deadline = time.monotonic() + events * WRITE_INTERVAL + 30
        while len(received) < events and time.monotonic() < deadline:
            for _, entries in client.xread({stream: position}, block=200, count=1000) or []:
                now = time.monotonic()
                for entry_id, entry in entries:
                    position = entry_id
                    received.setdefault(entry["event_id"], now)
        done.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    conn = psycopg2.connect(psycopg_dsn(url))
    next_at = time.monotonic()
    with conn.cursor() as cur:
        for i in range(events):
            event_id = f"lat-{uuid.uuid4()}"
            payload = {
                "event_id": event_id,
                "type": "bench.latency",
                "collection_id": "c-l",
                "i": i,
            }
            cur.execute(WRITE_ONE, ("c-l", json.dumps(payload)))
            conn.commit()
            committed[event_id] = time.monotonic()
            next_at += WRITE_INTERVAL
            time.sleep(max(0.0, next_at - time.monotonic()))
    conn.close()
    done.wait()
    consumer.join()
    client.close()
    lags = sorted((received[k] - t) * 1000 for k, t in committed.items() if k in received)
    if len(lags) < events:
        raise RuntimeError(f"only {len(lags)} of {events} events arrived")
    return Latency(lags[len(lags) // 2], lags[int(len(lags) * 0.99) - 1], lags[-1], len(lags))


def wait_until_relaying(url: str, stream: str) -> None:
    """One probe event through the relay: it is up (and listening) once that arrives."""
    measure_latency(url, stream, 1)


def latency_fileintel(url: str, stream: str, events: int, poll: bool) -> Latency:
    env = fileintel_environment(FILEINTEL_EVENTS_STREAM=stream)
    args = ["--database-url", url, "--events-url", REDIS_URL, "relay", "--poll-interval", "1"]
    if poll:
        execute(url, DROP_TRIGGER)
    relay = start_fileintel(args, env)
    try:
        wait_until_relaying(url, stream)
        return measure_latency(url, stream, events)
    finally:
        stop_fileintel(relay)
        if poll:
            execute(url, CREATE_TRIGGER)


def latency_raw(url: str, stream: str, events: int) -> Latency:
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    daemon = ctx.Process(target=raw_daemon, args=(url, stream, stop))
    daemon.start()
    try:
        wait_until_relaying(url, stream)
        return measure_latency(url, stream, events)
    finally:
        stop.set()
        daemon.join(10)
        if daemon.is_alive():
            daemon.terminate()


# --- report -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.relay")
    parser.add_argument("--backlog", type=int, default=200_000, help="rows to drain")
    parser.add_argument("--keys", type=int, default=1_000, help="collections in the backlog")
    parser.add_argument("--rounds", type=int, default=1, help="drain rounds of each kind")
    parser.add_argument("--events", type=int, default=800, help="events per latency run")
    parser.add_argument(
        "--latency-rounds", type=int, default=2, help="LISTEN/NOTIFY latency rounds of each kind"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the relay's drain")
    args = parser.parse_args(argv)

    stream = f"fileintel-bench:relay:{uuid.uuid4().hex[:8]}"
    stream_client = redis.Redis.from_url(REDIS_URL)
    started = time.perf_counter()
    with scratch_database(DB_NAME) as url:
        try:
            raws: list[Drain] = []
            ours: list[Drain] = []
            for _ in range(args.rounds):
                fill(url, args.backlog, args.keys)
                raws.append(drain_raw(url, stream, args.backlog))
                stream_client.delete(stream)
                fill(url, args.backlog, args.keys)
                ours.append(drain_fileintel(url, stream, args.backlog, args.profile))
                stream_client.delete(stream)
            raw = max(raws, key=lambda d: d.rate)
            mine = max(ours, key=lambda d: d.rate)
            drained_at = time.perf_counter()
            execute(url, "TRUNCATE outbox RESTART IDENTITY")
            raw_lats: list[Latency] = []
            our_lats: list[Latency] = []
            for _ in range(args.latency_rounds):  # interleaved: a noisy minute hurts both
                raw_lats.append(latency_raw(url, stream, args.events))
                our_lats.append(latency_fileintel(url, stream, args.events, poll=False))
            lat_raw = min(raw_lats, key=lambda lat: lat.p99_ms)
            lat_listen = min(our_lats, key=lambda lat: lat.p99_ms)
            lat_poll = latency_fileintel(url, stream, args.events, poll=True)
        finally:
            stream_client.delete(stream)
            stream_client.close()
    elapsed = time.perf_counter() - started

    drain_ratio = mine.rate / raw.rate
    p99_ratio = lat_listen.p99_ms / lat_raw.p99_ms
    print(f"\nOutbox relay, backlog {args.backlog} events over {args.keys} collections")
    print(f"{'':34} {'fileintel':>12} {'raw':>12} {'ratio':>8}")
    print(f"{'drain, events/s':34} {mine.rate:12.0f} {raw.rate:12.0f} {drain_ratio:8.2f}")
    print(
        f"{'drain, client CPU µs/event':34} {mine.cpu / mine.rows * 1e6:12.1f} "
        f"{raw.cpu / raw.rows * 1e6:12.1f} {mine.cpu / mine.rows / (raw.cpu / raw.rows):8.2f}"
    )
    for name, ours_ms, raw_ms in (
        ("latency p50 LISTEN/NOTIFY, ms", lat_listen.p50_ms, lat_raw.p50_ms),
        ("latency p99 LISTEN/NOTIFY, ms", lat_listen.p99_ms, lat_raw.p99_ms),
        ("latency max LISTEN/NOTIFY, ms", lat_listen.max_ms, lat_raw.max_ms),
    ):
        print(f"{name:34} {ours_ms:12.2f} {raw_ms:12.2f} {ours_ms / raw_ms:8.2f}")
    print(f"{'latency p50 polling 1 s, ms':34} {lat_poll.p50_ms:12.1f}")
    print(f"{'latency p99 polling 1 s, ms':34} {lat_poll.p99_ms:12.1f}")
    drain_ok = drain_ratio >= DRAIN_TARGET
    p99_ok = p99_ratio <= P99_TARGET_RATIO and lat_listen.p99_ms < P99_TARGET_MS
    print(f"\ndrain ≥ {DRAIN_TARGET} × raw: {verdict(drain_ok)} ({drain_ratio:.2f})")
    print(
        f"p99 ≤ {P99_TARGET_RATIO:.0f} × raw and < {P99_TARGET_MS:.0f} ms: {verdict(p99_ok)} "
        f"({p99_ratio:.2f} ×, {lat_listen.p99_ms:.2f} ms)"
    )
    print("every latency round (p50 / p99 ms):")
    for kind, runs in (("raw", raw_lats), ("fileintel", our_lats)):
        print(f"  {kind:<10} " + ", ".join(f"{r.p50_ms:.2f} / {r.p99_ms:.2f}" for r in runs))
    print(
        f"({lat_listen.samples} latency samples per run; drain phase "
        f"{drained_at - started:.0f} s, whole run {elapsed:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
