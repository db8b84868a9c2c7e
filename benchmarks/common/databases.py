"""The benchmarks' own PostgreSQL databases: created fresh and migrated, dropped after.

``FILEINTEL_BENCH_PG_URL`` names the server (an administrative database on it; default
``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "FILEINTEL_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def database_url(name: str) -> str:
    """The URL of database ``name`` on the benchmark server."""
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def psycopg_dsn(url: str) -> str:
    """``url`` (an SQLAlchemy URL) as a DSN that ``psycopg2.connect`` accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(name: str) -> str:
    """(Re)create database ``name``, migrate it to head, and return its URL."""
    from fileintel import migrate

    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    url = database_url(name)
    migrate.upgrade(url)
    return url


def drop_database(name: str) -> None:
    """Drop database ``name`` (connections to it are closed first)."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(name: str, keep: bool = False) -> Iterator[str]:
    """A fresh database ``name``, migrated to head, for the ``with`` block; its URL.

    Afterwards the engines FileIntel cached for it are disposed (their pooled connections
    would otherwise outlive the database) and it is dropped, unless ``keep``.
    """
    from fileintel.db import dispose_engines

    url = create_database(name)
    try:
        yield url
    finally:
        dispose_engines()
        if keep:
            print(f"kept database {name}")
        else:
            drop_database(name)


def _admin(*statements: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()
