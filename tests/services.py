"""Finding the real services the tests talk to, and skipping (or failing in CI) without them."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
from sqlalchemy import create_engine, text

from fileintel.db import dispose_engines

PG_ADMIN_URL = os.environ.get(
    "FILEINTEL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("FILEINTEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("FILEINTEL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")

REQUIRE_SERVICES = os.environ.get("FILEINTEL_REQUIRE_SERVICES") == "1"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@cache
def postgres_available() -> bool:
    """True when PostgreSQL accepts a connection as the test admin user."""
    if not _port_open("127.0.0.1", 5432):
        return False
    import psycopg2

    try:
        psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2
        ).close()
    except psycopg2.Error:
        return False
    return True


@cache
def redis_available() -> bool:
    """True when Redis answers PING."""
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@cache
def rabbitmq_available() -> bool:
    """True when RabbitMQ accepts an AMQP connection."""
    if not _port_open("127.0.0.1", 5672):
        return False
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).close()
    except Exception:
        return False
    return True


def need(service: str) -> None:
    """Skip the calling test when ``service`` is down, or fail when CI requires services."""
    available = {
        "postgresql": postgres_available,
        "redis": redis_available,
        "rabbitmq": rabbitmq_available,
    }[service]()
    if available:
        return
    reason = f"{service} is not reachable on 127.0.0.1 (start it as described in README)"
    if REQUIRE_SERVICES:
        pytest.fail(f"FILEINTEL_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """An empty PostgreSQL database of the caller's own (its URL), dropped afterwards."""
    need("postgresql")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
