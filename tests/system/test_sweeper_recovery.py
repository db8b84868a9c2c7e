"""Invariant L with real processes: ``fileintel relay``, ``scheduler`` and ``worker`` on
PostgreSQL and Redis, short leases, and the failures the sweeper exists for.

- A worker SIGKILLed in the middle of a document: its lease runs out, the sweeper
  re-dispatches the document as the next attempt, a new worker finishes the collection
  within lease + sweep interval + processing time (+ a margin), measured from the kill.
- Redis restarted without persistence while messages are queued and no worker runs: the
  messages are gone; the sweeper sees that the broker started after they were dispatched
  and sends them again at its next pass, long before the dispatch timeout (set to 300 s
  here); nothing is processed twice.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from fileintel.db import make_engine, read_tx
from fileintel.models.tables import chunks_t, documents_t
from fileintel.pipeline import PipelineOptions, process_file
from fileintel.workers.actors import DocumentWorker
from tests.helpers import invariant_h_and_o, unpublished, wait_for
from tests.processes import cli, cli_env, kill_group, logs_of, start_process, stop_process
from tests.services import need
from tests.sweeper.support import (
    TERMINAL,
    collection,
    counters_add_up,
    db_clock,
    free_port,
    notes,
    settings_for,
)

pytestmark = pytest.mark.slow

#: A Redis database of this suite's own on the shared server, flushed before use.
REDIS_DB = 7
REDIS_BROKER_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
LEASE, HEARTBEAT, SWEEP, DISPATCH_TIMEOUT = 3.0, 1.0, 1.0, 5.0
#: Process start-up, relay poll, scheduling noise on a loaded machine.
MARGIN = 8.0
FAST = {
    # Recovery is under test, not embedding: the fast embedder keeps documents short.
    "FILEINTEL_EMBEDDER": "hashing",
    "FILEINTEL_LEASE_SECONDS": str(LEASE),
    "FILEINTEL_HEARTBEAT_SECONDS": str(HEARTBEAT),
    "FILEINTEL_SWEEP_INTERVAL_SECONDS": str(SWEEP),
    "FILEINTEL_DISPATCH_TIMEOUT_SECONDS": str(DISPATCH_TIMEOUT),
    "FILEINTEL_RELAY_POLL_SECONDS": "0.1",
}
VOCABULARY = (
    "river mountain forest ocean harbour valley glacier desert island meadow canyon data model "
    "system process queue worker status document collection chunk embedding network protocol"
)
WORDS = tuple(VOCABULARY.split())


def relay_available() -> None:
    """Skip until ``fileintel relay`` exists (it is built beside this suite)."""
    try:
        import fileintel.outbox.relay  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("fileintel.outbox.relay is not there yet")


def write_text(path: Path, size: int, seed: int) -> Path:
    """A text file of about ``size`` bytes of sentences (distinct per seed)."""
    rng = random.Random(seed)
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + ".\n"
        lines.append(line)
        total += len(line)
    path.write_text("".join(lines), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Files:
    """Files of a test folder and the chunks the pipeline gives each (by resolved path)."""

    root: Path
    chunks: dict[str, int]
    seconds: dict[str, float]


def make_files(root: Path, sizes: dict[str, int]) -> Files:
    """Write the files and run the bare pipeline over each (expected chunks, time)."""
    root.mkdir(parents=True, exist_ok=True)
    chunks, seconds = {}, {}
    for i, (name, size) in enumerate(sorted(sizes.items())):
        path = write_text(root / name, size, seed=i)
        started = time.perf_counter()
        result = process_file(path, PipelineOptions())
        seconds[str(path.resolve())] = time.perf_counter() - started
        chunks[str(path.resolve())] = len(result.chunks)
    return Files(root, chunks, seconds)


def flush_redis(url: str) -> None:
    """Empty one Redis database."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def documents_by_path(engine: Engine, collection_id: str) -> dict[str, Any]:
    """The collection's document rows by path."""
    d = documents_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(select(documents_t).where(d.collection_id == collection_id)).all()
    return {r.path: r for r in rows}


def chunks_per_document(engine: Engine, collection_id: str) -> dict[str, int]:
    """Chunk rows per document path."""
    c, d = chunks_t.c, documents_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(d.path, func.count(c.id))
            .join(chunks_t, c.document_id == d.id)
            .where(d.collection_id == collection_id)
            .group_by(d.path)
        ).all()
    return {path: int(n) for path, n in rows}


def terminal(engine: Engine, collection_id: str) -> str | None:
    """The collection's status when terminal, else None."""
    status = collection(engine, collection_id).status
    return str(status) if status in TERMINAL else None


def workers_seen(engine: Engine) -> bool:
    """True once a worker process has written its heartbeat (it has booted)."""
    from fileintel.store.heartbeats import seen_recently

    with read_tx(engine) as conn:
        return bool(seen_recently(conn, "worker"))


def add_and_process(env: dict[str, str], name: str, root: Path) -> str:
    """``collections create/add/process`` through the CLI; return the collection id."""
    for args in (
        ["collections", "create", name],
        ["collections", "add", name, str(root)],
        ["collections", "process", name],
    ):
        done = cli(args, env)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    engine = make_engine(env["FILEINTEL_DATABASE_URL"])
    try:
        with read_tx(engine) as conn:
            from fileintel.store.collections import find_collection

            return str(find_collection(conn, name).id)
    finally:
        engine.dispose()


@contextlib.contextmanager
def processes(
    specs: dict[str, list[str]], env: dict[str, str], logs: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start named ``fileintel`` processes; stop every one still running at the end."""
    running = {name: start_process(args, env, logs / f"{name}.log") for name, args in specs.items()}
    try:
        yield running
    finally:
        for proc in running.values():
            stop_process(proc, group=True)


WORKER = ["worker", "--processes", "1", "--threads", "1"]


def test_a_worker_killed_mid_document_is_recovered_within_the_bound(
    pg_url: str, tmp_path: Path
) -> None:
    need("redis")
    relay_available()
    flush_redis(REDIS_BROKER_URL)
    files = make_files(
        tmp_path / "docs", {"a-small.txt": 20_000, "b-small.txt": 30_000, "z-big.txt": 12_000_000}
    )
    big = str((files.root / "z-big.txt").resolve())
    env = cli_env(pg_url, REDIS_BROKER_URL, FAST)
    engine = make_engine(pg_url)
    specs = {"relay": ["relay"], "scheduler": ["scheduler", "--interval", str(SWEEP)]}
    try:
        with processes({**specs, "worker-1": WORKER}, env, tmp_path) as running:
            collection_id = add_and_process(env, "killed-worker", files.root)

            def big_in_flight() -> bool:
                row = documents_by_path(engine, collection_id).get(big)
                return row is not None and row.state == "processing"

            wait_for(big_in_flight, timeout=90, what="the big document in flight", interval=0.02)
            kill_group(running["worker-1"])
            killed_at, killed_db = time.monotonic(), db_clock(engine)
            assert documents_by_path(engine, collection_id)[big].state == "processing"
            running["worker-2"] = start_process(WORKER, env, tmp_path / "worker-2.log")

            status = wait_for(
                partial(terminal, engine, collection_id),
                timeout=120,
                what="the collection to end",
                details=partial(logs_of, tmp_path),
            )
            elapsed = time.monotonic() - killed_at
        bound = LEASE + SWEEP + 2 * files.seconds[big] + MARGIN
        row = documents_by_path(engine, collection_id)[big]
        recovered = [n for n in notes(engine, collection_id) if n.document_id == row.id]
        detected = (recovered[0].at - killed_db).total_seconds() if recovered else float("nan")
        print(
            f"\nSIGKILL mid-document: lease expiry noticed {detected:.2f} s after the kill, "
            f"collection {status} {elapsed:.2f} s after it (bound {bound:.1f} s = lease {LEASE} "
            f"+ sweep {SWEEP} + 2 × pipeline {files.seconds[big]:.2f} + margin {MARGIN})"
        )
        assert status == "completed", logs_of(tmp_path)
        assert row.state == "done" and row.attempt == 2, (row.state, row.attempt)
        assert [n.decision for n in recovered] == ["redispatch_expired"]
        assert recovered[0].message.endswith("(attempt 1/3); re-dispatched as attempt 2")
        assert detected <= LEASE + SWEEP + 1.0, f"noticed after {detected:.2f} s"
        assert elapsed <= bound, f"terminal after {elapsed:.2f} s, bound {bound:.1f} s"
        assert chunks_per_document(engine, collection_id) == files.chunks
        coll = collection(engine, collection_id)
        assert coll.chunks_total == sum(files.chunks.values())
        assert counters_add_up(coll) and coll.documents_done == 3
        invariant_h_and_o(engine, collection_id)
    finally:
        engine.dispose()


@contextlib.contextmanager
def private_redis(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A throwaway ``redis-server`` without persistence on a free port (never the shared one).

    Yields the port and the list of server processes (the test kills and restarts it).
    """
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = 6391
    with contextlib.suppress(OSError):
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            port = free_port()  # 6391 is taken: any free one will do
    servers = [start_redis(port, tmp_path)]
    try:
        yield port, servers
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait(10)


def start_redis(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    """Start ``redis-server`` on ``port`` (no RDB, no AOF) and wait until it answers."""
    import redis

    log = (tmp_path / f"redis-{port}.log").open("ab")
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    client = redis.Redis(port=port, socket_timeout=1)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_for(up, timeout=15, what=f"redis-server on port {port}")
    client.close()
    return server


def redis_keys(port: int) -> int:
    """How many keys the private Redis holds."""
    import redis

    client = redis.Redis(port=port)
    try:
        return int(client.dbsize())
    finally:
        client.close()


def test_messages_lost_in_a_redis_restart_are_dispatched_again(pg_url: str, tmp_path: Path) -> None:
    relay_available()
    files_a = make_files(tmp_path / "a", {f"a{i}.txt": 15_000 + i for i in range(3)})
    files_b = make_files(tmp_path / "b", {f"b{i}.txt": 25_000 + i for i in range(3)})
    engine = make_engine(pg_url)
    try:
        with private_redis(tmp_path) as (port, servers):
            broker = f"redis://127.0.0.1:{port}/0"
            # Out of reach: only the restart itself can explain the quick re-send.
            env = cli_env(pg_url, broker, FAST | {"FILEINTEL_DISPATCH_TIMEOUT_SECONDS": "300"})
            with processes({"relay": ["relay"]}, env, tmp_path) as running:
                # A: its start message is queued. B: started (as a worker would), so its
                # document messages are queued. No worker runs.
                a = add_and_process(env, "lost-start", files_a.root)
                b = add_and_process(env, "lost-documents", files_b.root)
                worker = DocumentWorker(settings_for(pg_url), engine)
                worker.start_run(collection(engine, b).current_run_id)
                wait_for(lambda: unpublished(engine) == 0, timeout=60, what="the relay")
                assert redis_keys(port) > 0, "the messages should be waiting in Redis"

                servers[0].kill()
                servers[0].wait(10)
                servers.append(start_redis(port, tmp_path))
                restarted_at = time.monotonic()
                assert redis_keys(port) == 0, "no persistence: the messages are gone"

                running["scheduler"] = start_process(
                    ["scheduler", "--interval", str(SWEEP)], env, tmp_path / "scheduler.log"
                )
                worker_started = time.monotonic()
                running["worker"] = start_process(WORKER, env, tmp_path / "worker.log")
                wait_for(
                    partial(workers_seen, engine),
                    timeout=60,
                    what="the worker to boot",
                    details=partial(logs_of, tmp_path),
                )
                boot = time.monotonic() - worker_started
                ends = {}
                for cid in (a, b):
                    ends[cid] = wait_for(
                        partial(terminal, engine, cid),
                        timeout=90,
                        what=f"collection {cid} to end",
                        details=partial(logs_of, tmp_path),
                    )
                elapsed = time.monotonic() - restarted_at
                assert running["relay"].poll() is None, "the relay must outlive Redis"
        slowest = max(files_a.seconds.values()) + max(files_b.seconds.values())
        # The restart is seen at the next pass (Redis counts its uptime in whole seconds).
        bound = 1.0 + SWEEP + boot + slowest + MARGIN
        print(
            f"\nRedis restarted without persistence: both collections terminal {elapsed:.2f} s "
            f"after the restart (bound {bound:.1f} s = 1 s uptime resolution + "
            f"sweep {SWEEP} + worker boot {boot:.1f} + processing + margin {MARGIN})"
        )
        assert elapsed <= bound, f"terminal after {elapsed:.2f} s, bound {bound:.1f} s"
        assert ends == {a: "completed", b: "completed"}, logs_of(tmp_path)
        decisions_a = [n.decision for n in notes(engine, a)]
        decisions_b = [n.decision for n in notes(engine, b)]
        assert "redispatch_start" in decisions_a, decisions_a
        assert decisions_b.count("redispatch_unclaimed") == 3, decisions_b
        for cid, files in ((a, files_a), (b, files_b)):
            assert chunks_per_document(engine, cid) == files.chunks, "chunks written twice?"
            coll = collection(engine, cid)
            assert coll.chunks_total == sum(files.chunks.values())
            assert (coll.documents_done, coll.documents_total) == (3, 3)
            assert counters_add_up(coll)
            invariant_h_and_o(engine, cid)
    finally:
        engine.dispose()
