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
trip and one WAL flush per such pass, not per row (about 2 ms of latency on the project
machine). Only rows that an asynchronous commit may have written need it: a document's
progress events (``document.*``, written by a worker's finish). Every other outbox row is
written by a transaction that commits synchronously, which is visible only once durable:
a pass publishing only those, or only rows whose publishing changes nothing outside the
database (events without a sink), skips the barrier.

SQLite has no asynchronous commit: there is nothing to wait for.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Engine

from fileintel.db import SYNC_COMMIT, manual_tx
from fileintel.store.outbox_rows import EVENT

#: The topics of the outbox rows that an asynchronous commit writes: the progress events of
#: a worker's finish (``fileintel.store.progress_events``; ``document_work_pg.ASYNC_BEGIN``).
#: A new writer that commits asynchronously must write under this prefix or extend it.
ASYNC_WRITTEN_TOPIC_PREFIX = "document."

#: One round trip, its own transaction (an autocommit session runs a multi-statement query
#: as one): write a few bytes of WAL, commit synchronously whatever the session's default.
FLUSH_COMMITTED = SYNC_COMMIT + "SELECT pg_logical_emit_message(true, 'fileintel', '')"


def flush_committed(engine: Engine) -> None:
    """Return once every transaction committed before the call is durable."""
    if engine.dialect.name != "postgresql":
        return
    with manual_tx(engine) as conn:
        conn.exec_driver_sql(FLUSH_COMMITTED)


def written_asynchronously(row: Any) -> bool:
    """Whether an outbox row may come from a transaction that committed asynchronously."""
    return bool(row.kind == EVENT and row.topic.startswith(ASYNC_WRITTEN_TOPIC_PREFIX))


def needs_flush(rows: Iterable[Any], lazy_kinds: Collection[str]) -> bool:
    """Whether publishing ``rows`` could announce a commit that a crash may still undo."""
    return any(r.kind not in lazy_kinds and written_asynchronously(r) for r in rows)
