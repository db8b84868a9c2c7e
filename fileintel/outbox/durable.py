"""Publish only what a database crash cannot take back: the relay's WAL barrier.

Some transactions that write outbox rows commit with ``synchronous_commit`` off: a worker's
claim and its finish of a document that does not close the run
(``fileintel.store.document_work_pg``). PostgreSQL makes such a commit visible to other
sessions before its WAL reaches the disk, and a crash in between rolls it back. The relay
would then have published an event, or sent a message, about something that never
happened.

So before a pass publishes rows that leave the database (a dispatch, an event for a Redis
Stream) the relay calls ``flush_committed``: a transaction that writes to the WAL and
commits synchronously waits until the WAL is flushed up to its commit record. (It must
write: PostgreSQL commits a transaction that wrote nothing without a flush, whatever
``synchronous_commit`` says. A transactional logical-decoding message is the smallest
write any role may make, and no decoding plugin is needed to write one.) Every transaction
whose rows the relay's claim saw wrote its commit record before it became visible, so
before this one: once it returns, they are all durable. The cost is one round
trip and one WAL flush per such pass, not per row; a pass that only marks rows whose
publishing changes nothing outside the database (events without a sink) skips it.

SQLite has no asynchronous commit: there is nothing to wait for.
"""

from __future__ import annotations

from sqlalchemy import Engine

from fileintel.db import manual_tx

#: One round trip, its own transaction (an autocommit session runs a multi-statement query
#: as one): write a few bytes of WAL, commit synchronously whatever the session's default.
FLUSH_COMMITTED = (
    "SET LOCAL synchronous_commit TO on; SELECT pg_logical_emit_message(true, 'fileintel', '')"
)


def flush_committed(engine: Engine) -> None:
    """Return once every transaction committed before the call is durable."""
    if engine.dialect.name != "postgresql":
        return
    with manual_tx(engine) as conn:
        conn.exec_driver_sql(FLUSH_COMMITTED)
