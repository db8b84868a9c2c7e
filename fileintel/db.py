"""Engines, transactions and the database clock, for PostgreSQL and the embedded SQLite file.

Everything that reads or writes goes through ``write_tx`` or ``read_tx``:

- On PostgreSQL both are ordinary READ COMMITTED transactions; guarded UPDATEs and
  ``FOR UPDATE SKIP LOCKED`` give the isolation we need.
- On SQLite several processes (worker threads, relay, CLI) share one file. WAL lets readers
  run beside one writer; ``write_tx`` starts with ``BEGIN IMMEDIATE`` so a writer takes the
  write lock up front and waits (busy timeout) instead of failing half-way with "database is
  locked" when it upgrades a read lock.

Time that matters for correctness (status_updated_at, leases) comes from the database clock
(``db_now()``), never from the client, so processes on different machines agree.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from fileintel.config import redact, url_secrets
from fileintel.errors import DatabaseError
from fileintel.models.base import UTCDateTime

SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()

log = logging.getLogger("fileintel.db")

#: Set in ``Connection.info`` by code that inserts outbox rows; ``write_tx`` reads it.
_OUTBOX_WRITTEN = "fileintel.outbox_written"
_outbox_hooks: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)
_hooks_lock = threading.Lock()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with FileIntel's connection settings (not cached)."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    # No pre-ping (a round trip per transaction): a dropped connection fails one
    # transaction, is invalidated, and the daemons retry their pass.
    return create_engine(url, pool_recycle=1800, pool_size=5, max_overflow=10)


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (one pool per URL per process)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every cached pool (after fork, and at the end of tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver: we emit BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


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
                wrote_outbox = bool(conn.info.pop(_OUTBOX_WRITTEN, False))
    except exc.OperationalError as e:
        raise DatabaseError(f"database error: {_short(e, engine)}") from e
    if wrote_outbox:
        _run_outbox_hooks(engine)


def mark_outbox_written(conn: Connection) -> None:
    """Note that the current transaction inserted outbox rows (see ``on_outbox_commit``)."""
    conn.info[_OUTBOX_WRITTEN] = True


def on_outbox_commit(engine: Engine, hook: Callable[[], None]) -> Callable[[], None]:
    """Call ``hook`` after each ``write_tx`` on ``engine``, in this process, that committed
    outbox rows; return a function that removes it.

    The embedded mode wakes its relay with it: SQLite has no NOTIFY, and without a wake-up
    a committed message waits for the relay's next poll.
    """
    with _hooks_lock:
        _outbox_hooks.setdefault(engine, []).append(hook)

    def remove() -> None:
        with _hooks_lock:
            hooks = _outbox_hooks.get(engine, [])
            if hook in hooks:
                hooks.remove(hook)

    return remove


def _run_outbox_hooks(engine: Engine) -> None:
    with _hooks_lock:
        hooks = list(_outbox_hooks.get(engine, ()))
    for hook in hooks:
        try:
            hook()
        except Exception:  # the transaction committed: a hook must not undo that for the caller
            log.exception("outbox commit hook failed")


#: What a ``manual_tx`` statement starts with to open the transaction in its round trip.
BEGIN_PREFIX = "BEGIN; "
#: Sent in a PostgreSQL transaction: its COMMIT does not wait for the WAL flush. Only for
#: writes whose loss in a database crash is recovered and that nothing outside the database
#: acts on before they are durable (see ``fileintel.outbox.durable``).
ASYNC_COMMIT = "SET LOCAL synchronous_commit TO off; "
#: Sent in a PostgreSQL transaction: its COMMIT waits for the WAL flush, whatever was set.
SYNC_COMMIT = "SET LOCAL synchronous_commit TO on; "

#: psycopg2's transaction status values (``psycopg2.extensions.TRANSACTION_STATUS_*``).
_PG_IDLE, _PG_INERROR, _PG_UNKNOWN = 0, 3, 4


@contextmanager
def manual_tx(engine: Engine) -> Iterator[Connection]:
    """PostgreSQL: a write transaction whose BEGIN travels with the first statement.

    A worker's hot path pays per round trip, and the driver sends BEGIN on its own before
    the first statement. Here the connection is in autocommit: the caller's first statement
    is either one statement that is its own transaction (``SET LOCAL ...; UPDATE ...`` runs
    as one implicit transaction), or starts with ``BEGIN;``, in which case this sends COMMIT
    at the end, or ROLLBACK when the block raises. A connection that is left inside a
    transaction for any reason is discarded, never returned to the pool.
    """
    wrote_outbox = False
    try:
        with engine.connect() as conn:
            dbapi: Any = conn.connection.dbapi_connection
            info = conn.info
            # The driver's own switch: SQLAlchemy's isolation_level option would cost a
            # round trip on every return to the pool to set the session default again.
            dbapi.autocommit = True
            try:
                yield conn
                status = _pg_status(conn)
                if status == _PG_INERROR:  # a statement failed and the caller swallowed it
                    raise DatabaseError("a statement of the transaction failed; rolled back")
                if status != _PG_IDLE:
                    conn.exec_driver_sql("COMMIT")
                # The driver never saw these transactions: tell the engine's commit
                # listeners (metrics counted at commit) as SQLAlchemy itself would.
                conn.dispatch.commit(conn)
            except BaseException:
                _pg_rollback(conn)
                conn.dispatch.rollback(conn)
                raise
            finally:
                wrote_outbox = bool(info.pop(_OUTBOX_WRITTEN, False))
                if _pg_status(conn) == _PG_IDLE:
                    dbapi.autocommit = False
                elif not conn.invalidated:
                    conn.invalidate()
    except exc.OperationalError as e:
        raise DatabaseError(f"database error: {_short(e, engine)}") from e
    if wrote_outbox:
        _run_outbox_hooks(engine)


def _pg_status(conn: Connection) -> int:
    """The server's view of the session: idle, in a transaction, failed, or unknown."""
    try:
        dbapi = conn.connection.dbapi_connection
    except exc.SQLAlchemyError:  # invalidated
        return _PG_UNKNOWN
    return _PG_UNKNOWN if dbapi is None else int(dbapi.get_transaction_status())


def _pg_rollback(conn: Connection) -> None:
    if _pg_status(conn) == _PG_IDLE:
        return
    try:
        conn.exec_driver_sql("ROLLBACK")
    except exc.SQLAlchemyError:  # the session is gone: the server rolled back
        log.debug("rollback failed; the connection is discarded", exc_info=True)


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (on SQLite it does not take the write lock)."""
    try:
        with engine.connect() as conn:
            conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                yield conn
    except exc.OperationalError as e:
        raise DatabaseError(f"database error: {_short(e, engine)}") from e


def _short(e: exc.DBAPIError, engine: Engine) -> str:
    """The driver's first line, without the engine's password should the driver quote it."""
    text = str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
    return redact(text, url_secrets(engine.url.render_as_string(hide_password=False)))


# --- the database clock -------------------------------------------------------------------


class db_now(FunctionElement[Any]):
    """The database's current UTC time, optionally shifted by ``seconds`` (may be negative)."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds: Any = None) -> None:
        from sqlalchemy import literal

        self.seconds = seconds
        args = (
            ()
            if seconds is None
            else (literal(seconds) if not hasattr(seconds, "compile") else seconds,)
        )
        super().__init__(*args)


@compiles(db_now, "postgresql")
def _pg_now(element: db_now, compiler: Any, **kw: Any) -> str:
    if element.seconds is None:
        return "clock_timestamp()"
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"(clock_timestamp() + make_interval(secs => CAST({arg} AS double precision)))"


@compiles(db_now, "sqlite")
def _sqlite_now(element: db_now, compiler: Any, **kw: Any) -> str:
    # Same text layout SQLAlchemy uses for SQLite DATETIME (microseconds), so comparisons
    # sort correctly and a value read back compares equal when bound again.
    if element.seconds is None:
        return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', ({arg}) || ' seconds') || '000')"
