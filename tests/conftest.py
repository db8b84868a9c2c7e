"""Shared fixtures: real databases (SQLite file and PostgreSQL), Redis, RabbitMQ.

Every test that takes ``db_url`` runs twice, once per backend. PostgreSQL gets one database
per test session (migrated once) and every table is truncated between tests; SQLite gets a
fresh copy of a migrated template file per test.

The processing fixtures (``corpus``, ``settings``, ``worker``, ``docs_dir``) are here too:
the store, worker, runtime and system tests all process the same generated corpus.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from fileintel import migrate
from fileintel.config import Settings
from fileintel.db import dispose_engines, make_engine
from fileintel.models import Base
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, make_mixed_corpus, settings_for
from tests.services import REDIS_URL, need, scratch_pg_database

TABLES = [t.name for t in reversed(Base.metadata.sorted_tables)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    dispose_engines()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated to head; dropped at the end."""
    with scratch_pg_database("fileintel_test") as url:
        migrate.upgrade(url)
        yield url


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated SQLite file for this test."""
    path = tmp_path / "fileintel.db"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite:///{path}"
    dispose_engines()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The session's PostgreSQL database, emptied for this test."""
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    yield url
    dispose_engines()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each backend in turn."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``, disposed after the test."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL; the keys a test writes carry its own prefix (see ``redis_prefix``)."""
    need("redis")
    yield REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    import redis

    prefix = f"fileintel-test:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def rabbitmq_url() -> str:
    """The RabbitMQ URL, when the server is up."""
    need("rabbitmq")
    from tests.services import RABBITMQ_URL

    return RABBITMQ_URL


# --- processing: one generated corpus per session, a worker per test ----------------------


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The mixed ten-document corpus (read-only: tests never change these files)."""
    return make_mixed_corpus(tmp_path_factory.mktemp("corpus") / "docs")


@pytest.fixture
def settings(db_url: str) -> Settings:
    """In-process settings on this test's database."""
    return settings_for(db_url)


@pytest.fixture
def worker(settings: Settings, engine: Engine) -> DocumentWorker:
    """The actors' work, bound to this test's engine."""
    return DocumentWorker(settings, engine)


@pytest.fixture
def docs_dir(corpus: Corpus) -> Path:
    """The corpus folder."""
    return corpus.root
