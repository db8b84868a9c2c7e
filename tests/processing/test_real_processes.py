"""The Procfile deployment for real: ``fileintel worker`` and ``fileintel relay`` as separate
processes on PostgreSQL with a Redis (and a RabbitMQ) broker, and ``fileintel ingest`` as the
user's command. The processes are stopped with SIGTERM and must go in time."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from fileintel.db import make_engine, read_tx
from fileintel.messaging import DOCUMENTS_QUEUE, RUNS_QUEUE
from fileintel.models.tables import outbox_t
from fileintel.store.documents import list_documents
from fileintel.store.status import collection_status
from tests.helpers import invariant_h_and_o
from tests.processing.support import (
    Corpus,
    assert_chunks_match,
    assert_documents_match,
    cli_env,
    collection_row,
    run_cli,
    start_process,
    stop_process,
    wait_for,
)
from tests.services import RABBITMQ_URL, need

pytestmark = pytest.mark.slow

#: A Redis database of this suite's own; flushed before use (the worker's namespace is
#: ``fileintel`` and would otherwise meet other suites' messages).
REDIS_DB = 5
REDIS_BROKER_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
STOP_TIMEOUT = 20.0
INGEST_TIMEOUT = 90.0


@contextmanager
def exclusive(resource: str, timeout: float = 240.0) -> Iterator[None]:
    """Hold a machine-wide lock (a Redis key) on a shared broker resource.

    Redis database 5 and RabbitMQ's queues are shared by every test session on this
    machine: two sessions running these tests at once would flush or consume each other's
    messages. The second one waits here instead.
    """
    import uuid

    import redis

    from tests.services import REDIS_URL, redis_available

    if not redis_available():
        yield
        return
    client = redis.Redis.from_url(REDIS_URL)
    key, token = f"fileintel-test:lock:{resource}", uuid.uuid4().hex
    try:
        wait_for(
            lambda: client.set(key, token, nx=True, ex=int(timeout) + 60),
            timeout=timeout,
            what=f"another test session to release {resource}",
            interval=0.5,
        )
        yield
    finally:
        if client.get(key) == token.encode():
            client.delete(key)
        client.close()


def flush_redis_db() -> None:
    """Empty this suite's Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_BROKER_URL)
    client.flushdb()
    client.close()


def purge_rabbitmq() -> None:
    """Drop leftover messages from FileIntel's queues (they may belong to other databases)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        for base in (RUNS_QUEUE, DOCUMENTS_QUEUE):
            for name in (base, f"{base}.DQ", f"{base}.XQ"):
                channel = connection.channel()
                try:
                    channel.queue_purge(name)
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:
                    pass  # the queue does not exist yet
    finally:
        connection.close()


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
            args = ["ingest", str(corpus.root), "--collection", name, "--json"]
            try:
                done = run_cli(args, env, timeout=INGEST_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"ingest did not finish in {INGEST_TIMEOUT:.0f} s; collection: "
                    f"{collection_row(engine, name)._mapping}\n{read_logs(tmp_path)}"
                ) from None
            logs = read_logs(tmp_path)
            assert done.returncode == 3, f"{done.stderr}\n{logs}"
            summary = json.loads(done.stdout)
            assert summary["status"] == "completed_with_errors"
            assert all(p.poll() is None for p in procs), logs
            wait_for(lambda: outbox_backlog(engine) == 0, timeout=30, what="the outbox to drain")

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
    with exclusive(f"redis-db-{REDIS_DB}"):
        flush_redis_db()
        ingest_and_check(pg_url, REDIS_BROKER_URL, corpus, tmp_path, "redis-docs")


def test_worker_relay_and_ingest_on_postgresql_and_rabbitmq(
    pg_url: str, corpus: Corpus, tmp_path: Path
) -> None:
    need("rabbitmq")
    with exclusive("rabbitmq-queues"):
        purge_rabbitmq()
        ingest_and_check(pg_url, RABBITMQ_URL, corpus, tmp_path, "rabbit-docs")
