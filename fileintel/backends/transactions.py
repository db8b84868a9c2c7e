"""The two ordinary transactions every backend offers: one that may write, one that reads.

- On PostgreSQL both are READ COMMITTED transactions; guarded UPDATEs and
  ``FOR UPDATE SKIP LOCKED`` give the isolation FileIntel needs.
- On SQLite several processes share one file. WAL lets readers run beside one writer; a
  write transaction starts with ``BEGIN IMMEDIATE`` (``sqlite.py``) so a writer takes the
  write lock up front and waits (busy timeout) instead of failing half-way with "database
  is locked" when it upgrades a read lock; a read transaction begins DEFERRED.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, exc
from sqlalchemy.engine import Connection

from fileintel.backends.commit_hooks import run_outbox_hooks, short_error, take_outbox_written
from fileintel.backends.diagnosis import diagnose, note_unusable
from fileintel.errors import DatabaseError, DatabaseUnusable

#: The execution option that tells SQLite's BEGIN how to start (``sqlite.py``).
SQLITE_BEGIN = "sqlite_begin"


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction that may write; commits on success, rolls back on any exception.

    When it committed outbox rows, the hooks registered with ``on_outbox_commit`` run
    after the commit.
    """
    wrote_outbox = False
    try:
        with engine.begin() as conn:
            try:
                yield conn
            finally:
                wrote_outbox = take_outbox_written(conn.info)
    except exc.DBAPIError as e:
        raise translated(e, engine) from e
    if wrote_outbox:
        run_outbox_hooks(engine)


def translated(e: exc.DBAPIError, engine: Engine) -> Exception:
    """The typed error for a driver's: DatabaseUnusable for a cause that repeats (noted
    for this process), DatabaseError for another operational one, else ``e`` itself."""
    found = diagnose(e)
    if found is not None and found.repeats:
        note_unusable(found)
        return DatabaseUnusable(found.message)
    if isinstance(e, exc.OperationalError):
        return DatabaseError(f"database error: {short_error(e, engine)}")
    return e


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (on SQLite it does not take the write lock)."""
    try:
        with engine.connect() as conn:
            conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            with conn.begin():
                yield conn
    except exc.DBAPIError as e:
        raise translated(e, engine) from e
