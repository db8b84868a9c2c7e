"""The Procfile deployment for real: ``fileintel worker`` and ``fileintel relay`` as separate
processes on PostgreSQL with a Redis (and a RabbitMQ) broker, and ``fileintel ingest`` as the
user's command. The processes are stopped with SIGTERM and must go in time."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from fileintel.commands.processing import POLL_MS, PREFETCH_PER_THREAD
from fileintel.db import make_engine, read_tx
from fileintel.messaging import DOCUMENTS_QUEUE, RUNS_QUEUE
from fileintel.models.tables import outbox_t
from fileintel.store.documents import list_documents
from fileintel.store.status import collection_status
from tests.corpus import Corpus, assert_chunks_match, assert_documents_match, collection_row
from tests.helpers import invariant_h_and_o, wait_for
from tests.processes import FILEINTEL, cli_env, start_process, stop_process
from tests.services import RABBITMQ_URL, need

pytestmark = pytest.mark.slow

#: Redis databases this suite may use as its broker, in order of preference (6 is the
#: processing benchmark's, 7 the sweeper suite's). The worker's namespace is ``fileintel``,
#: so a database must not be shared with any other FileIntel worker.
REDIS_DBS = (5, 8, 9, 10, 11, 12, 13, 14, 15)
STOP_TIMEOUT = 20.0
INGEST_TIMEOUT = 90.0
LOCK_SECONDS = 600


def _lock_client() -> Any:
    import redis

    from tests.services import REDIS_URL

    return redis.Redis.from_url(REDIS_URL)


def _redis_dbs_in_use(client: Any) -> set[int]:
    """Databases some connected client has selected (a stray worker of another session)."""
    return {int(c["db"]) for c in client.client_list()}


@contextmanager
def redis_broker_db() -> Iterator[str]:
    """A Redis broker URL on a database no one else uses, locked and flushed for this test.

    Test sessions on one machine share the Redis server: a worker left behind by a killed
    session keeps consuming its database, and two sessions running this suite at once would
    flush each other's. So: the first database with no client on it whose lock we get.
    """
    import uuid

    client = _lock_client()
    token = uuid.uuid4().hex
    held: str | None = None

    def acquire() -> str | None:
        nonlocal held
        busy = _redis_dbs_in_use(client)
        for db in REDIS_DBS:
            key = f"fileintel-test:lock:redis-db-{db}"
            if db not in busy and client.set(key, token, nx=True, ex=LOCK_SECONDS):
                held = key
                return f"redis://127.0.0.1:6379/{db}"
        return None

    try:
        url = wait_for(acquire, timeout=120, what="a free Redis database", interval=0.5)
        import redis

        broker = redis.Redis.from_url(url)
        broker.flushdb()
        broker.close()
        yield url
    finally:
        if held is not None and client.get(held) == token.encode():
            client.delete(held)
        client.close()


@contextmanager
def rabbitmq_queues() -> Iterator[str]:
    """RabbitMQ with FileIntel's queues empty and no other consumer, locked for this test.

    The queues are shared by every session on this machine (one vhost): wait for the lock,
    then for any consumer left over from another session to go, then purge.
    """
    import uuid

    import pika

    client = _lock_client()
    key, token = "fileintel-test:lock:rabbitmq-queues", uuid.uuid4().hex
    queues = [f"{b}{s}" for b in (RUNS_QUEUE, DOCUMENTS_QUEUE) for s in ("", ".DQ", ".XQ")]

    def consumers() -> dict[str, int]:
        found = {}
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        try:
            for name in queues:
                channel = connection.channel()
                try:
                    frame = channel.queue_declare(name, passive=True)
                    found[name] = frame.method.consumer_count
                    channel.queue_purge(name)
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:
                    pass  # the queue does not exist yet
        finally:
            connection.close()
        return {name: n for name, n in found.items() if n}

    try:
        wait_for(
            lambda: client.set(key, token, nx=True, ex=LOCK_SECONDS),
            timeout=240,
            what="another test session to release the RabbitMQ queues",
            interval=0.5,
        )
        left: dict[str, int] = {}

        def no_consumer() -> bool:
            left.clear()
            left.update(consumers())
            return not left

        try:
            wait_for(no_consumer, timeout=30, what="RabbitMQ queues without consumers")
        except AssertionError:
            raise AssertionError(
                f"FileIntel's RabbitMQ queues already have consumers {left}: a "
                "'fileintel worker' of another session is still running on this broker"
            ) from None
        yield RABBITMQ_URL
    finally:
        if client.get(key) == token.encode():
            client.delete(key)
        client.close()


@contextmanager
def deployment(env: dict[str, str], logs: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``fileintel worker`` (one process, two threads) and ``fileintel relay`` running."""
    procs = [
        start_process(["worker", "--processes", "1", "--threads", "2"], env, logs / "worker.log"),
        start_process(["relay"], env, logs / "relay.log"),
    ]
    try:
        yield procs
    finally:
        codes = [stop_process(p, STOP_TIMEOUT) for p in procs]
        for proc, code in zip(procs, codes, strict=True):
            assert code != -9, f"{proc.args!r} did not stop within {STOP_TIMEOUT} s of SIGTERM"


def dramatiq_settings(pid: int) -> dict[str, str]:
    """The Dramatiq tuning a running worker process was started with (its environment)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode().split("=", 1) for item in raw if b"=" in item)
    return {k: v for k, v in pairs if k.startswith("dramatiq_")}


def read_logs(folder: Path, tail: int = 6000) -> str:
    """The end of each process log in ``folder``."""
    return "\n".join(f"--- {p.name}\n{p.read_text()[-tail:]}" for p in sorted(folder.glob("*.log")))


def outbox_backlog(engine: Engine) -> int:
    """Unpublished outbox rows."""
    with read_tx(engine) as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(outbox_t).where(outbox_t.c.published_at.is_(None))
            ).scalar_one()
        )


def ingest_and_check(
    pg_url: str, broker_url: str, corpus: Corpus, tmp_path: Path, name: str
) -> None:
    """Run the deployment, ingest the corpus, and check what the database holds."""
    env = cli_env(pg_url, broker_url, {"FILEINTEL_RELAY_POLL_SECONDS": "0.1"})
    engine = make_engine(pg_url)
    try:
        with deployment(env, tmp_path) as procs:
            # 'fileintel worker' execs Dramatiq with a prefetch window per thread and a short
            # poll bound, so its threads are not left waiting on a sleeping Redis consumer.
            started = wait_for(
                lambda: dramatiq_settings(procs[0].pid),
                timeout=30,
                what="'fileintel worker' to exec Dramatiq",
                interval=0.05,
            )
            assert started == {
                "dramatiq_queue_prefetch": str(2 * PREFETCH_PER_THREAD),
                "dramatiq_worker_timeout": str(POLL_MS),
            }
            args = [FILEINTEL, "ingest", str(corpus.root), "--collection", name, "--json"]
            ingest = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
            try:
                wait_for(
                    lambda: ingest.poll() is not None or any(p.poll() is not None for p in procs),
                    timeout=INGEST_TIMEOUT,
                    what="ingest to finish",
                    interval=0.1,
                )
            except AssertionError:
                raise AssertionError(
                    f"ingest did not finish in {INGEST_TIMEOUT:.0f} s; collection: "
                    f"{collection_row(engine, name)._mapping}\n{read_logs(tmp_path)}"
                ) from None
            finally:
                if ingest.poll() is None:
                    ingest.kill()
                stdout, _ = ingest.communicate(timeout=10)
            logs = read_logs(tmp_path)
            assert all(p.poll() is None for p in procs), f"a daemon exited:\n{logs}"
            assert ingest.returncode == 3, f"ingest exited {ingest.returncode}\n{logs}"
            summary = json.loads(stdout)
            assert summary["status"] == "completed_with_errors"
            wait_for(lambda: outbox_backlog(engine) == 0, timeout=30, what="the outbox to drain")
            # At the default log level each failed document is logged once with its reason
            # (Dramatiq's own handler is replaced, not doubled), in FileIntel's format; the
            # documents done are not (a line each only at FILEINTEL_LOG_LEVEL=debug).
            outcome = re.compile(r"document \d+ of run \S+ (done|failed)")
            lines = [
                line
                for line in (tmp_path / "worker.log").read_text().splitlines()
                if outcome.search(line)
            ]
            assert len(lines) == 3, "\n".join(lines)
            assert all(re.search(r" INFO fileintel\.worker\[\d+\]: ", line) for line in lines)
            assert all(re.search(r" failed: \S", line) for line in lines), lines

        collection = collection_row(engine, name)
        with read_tx(engine) as conn:
            view = collection_status(conn, collection)
            documents = list_documents(conn, collection.id)
        assert view["documents"]["done"] == 7 and view["documents"]["failed"] == 3
        assert view["embedding_coverage"] == 100.0
        assert view["chunks"] == corpus.total_chunks
        assert_documents_match(documents, corpus)
        assert_chunks_match(engine, collection.id, corpus)
        history = invariant_h_and_o(engine, collection.id)
        assert [h.to_status for h in history] == [
            "created",
            "queued",
            "processing",
            "completed_with_errors",
        ]
    finally:
        engine.dispose()


def test_worker_relay_and_ingest_on_postgresql_and_redis(
    pg_url: str, corpus: Corpus, tmp_path: Path
) -> None:
    need("redis")
    with redis_broker_db() as broker_url:
        ingest_and_check(pg_url, broker_url, corpus, tmp_path, "redis-docs")


def test_worker_relay_and_ingest_on_postgresql_and_rabbitmq(
    pg_url: str, corpus: Corpus, tmp_path: Path
) -> None:
    need("rabbitmq")
    need("redis")  # for the lock shared by test sessions
    with rabbitmq_queues() as broker_url:
        ingest_and_check(pg_url, broker_url, corpus, tmp_path, "rabbit-docs")
