"""PostgreSQL sessions for the hot paths: a transaction whose BEGIN and COMMIT travel with
statements, and the per-transaction commit modes.

A worker's claim and finish and a relay pass pay per round trip, and the driver sends
BEGIN on its own before the first statement. ``manual_tx`` hands out an autocommit
connection instead: the first statement either is its own transaction or starts with
``BEGIN_PREFIX``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, exc
from sqlalchemy.engine import Connection

from fileintel.backends.commit_hooks import run_outbox_hooks, take_outbox_written
from fileintel.backends.transactions import translated
from fileintel.errors import DatabaseError

log = logging.getLogger("fileintel.db")

#: What a ``manual_tx`` statement starts with to open the transaction in its round trip.
BEGIN_PREFIX = "BEGIN; "
#: Sent in a PostgreSQL transaction: its COMMIT does not wait for the WAL flush. Only for
#: writes whose loss in a database crash is recovered and that nothing outside the database
#: acts on before they are durable (see ``fileintel.outbox.durable``).
ASYNC_COMMIT = "SET LOCAL synchronous_commit TO off; "
#: Sent in a PostgreSQL transaction: its COMMIT waits for the WAL flush, whatever was set.
SYNC_COMMIT = "SET LOCAL synchronous_commit TO on; "
#: How a hot transaction that commits asynchronously opens (a claim's finish).
ASYNC_BEGIN = BEGIN_PREFIX + ASYNC_COMMIT

#: psycopg2's transaction status values (``psycopg2.extensions.TRANSACTION_STATUS_*``).
TX_IDLE, TX_INERROR, TX_UNKNOWN = 0, 3, 4


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
            info = conn.info  # unreachable through ``conn`` once a failure invalidated it
            # The driver's own switch: SQLAlchemy's isolation_level option would cost a
            # round trip on every return to the pool to set the session default again.
            dbapi.autocommit = True
            try:
                yield conn
                status = transaction_status(conn)
                if status == TX_INERROR:  # a statement failed and the caller swallowed it
                    raise DatabaseError("a statement of the transaction failed; rolled back")
                if status != TX_IDLE:
                    conn.exec_driver_sql("COMMIT")
                # The driver never saw these transactions: tell the engine's commit
                # listeners (metrics counted at commit) as SQLAlchemy itself would.
                conn.dispatch.commit(conn)
            except BaseException:
                _pg_rollback(conn)
                conn.dispatch.rollback(conn)
                raise
            finally:
                wrote_outbox = take_outbox_written(info)
                if transaction_status(conn) == TX_IDLE:
                    dbapi.autocommit = False
                elif not conn.invalidated:
                    conn.invalidate()
    except exc.DBAPIError as e:
        raise translated(e, engine) from e
    if wrote_outbox:
        run_outbox_hooks(engine)


def transaction_status(conn: Connection) -> int:
    """The server's view of the session: idle, in a transaction, failed, or unknown."""
    try:
        dbapi = conn.connection.dbapi_connection
    except exc.SQLAlchemyError:  # invalidated
        return TX_UNKNOWN
    return TX_UNKNOWN if dbapi is None else int(dbapi.get_transaction_status())


def _pg_rollback(conn: Connection) -> None:
    if transaction_status(conn) == TX_IDLE:
        return
    try:
        conn.exec_driver_sql("ROLLBACK")
    except exc.SQLAlchemyError:  # the session is gone: the server rolled back
        log.debug("rollback failed; the connection is discarded", exc_info=True)
