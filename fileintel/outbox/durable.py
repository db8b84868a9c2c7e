"""Publish only what a database crash cannot take back: the relay's durability barrier.

Some transactions that write outbox rows commit without waiting for durability: on
PostgreSQL a worker's claim and its finish of a document that does not close the run
(``synchronous_commit`` off, ``fileintel.backends.postgresql``). Such a commit is visible
to other sessions before its WAL reaches the disk, and a crash in between rolls it back:
the relay would then have published an event about something that never happened.

So before a pass publishes such a row to a sink outside the database, the relay calls the
backend's ``flush_committed``: once it returns, every transaction whose rows the relay's
claim saw is durable (it committed before the barrier's own synchronous commit). One round
trip and one flush per such pass, not per row. Only rows that an asynchronous commit may
have written need it: a worker's progress events (``events.DOCUMENT_EVENT_PREFIX``). Every
other row comes from a transaction that commits synchronously and is visible only once
durable; a pass publishing only those, or only rows whose publishing changes nothing
outside the database (events without a sink), skips the barrier.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Engine

from fileintel.backends import backend_for
from fileintel.models.events import DOCUMENT_EVENT_PREFIX
from fileintel.models.tables import OUTBOX_EVENT

#: The topics of the outbox rows that an asynchronous commit writes. A new writer that
#: commits asynchronously must write under this prefix or extend it.
ASYNC_WRITTEN_TOPIC_PREFIX = DOCUMENT_EVENT_PREFIX


def flush_committed(engine: Engine) -> None:
    """Return once every transaction committed before the call is durable."""
    backend_for(engine).flush_committed(engine)


def written_asynchronously(row: Any) -> bool:
    """Whether an outbox row may come from a transaction that committed asynchronously."""
    return bool(row.kind == OUTBOX_EVENT and row.topic.startswith(ASYNC_WRITTEN_TOPIC_PREFIX))


def needs_flush(rows: Iterable[Any], lazy_kinds: Collection[str]) -> bool:
    """Whether publishing ``rows`` could announce a commit that a crash may still undo."""
    return any(r.kind not in lazy_kinds and written_asynchronously(r) for r in rows)
