"""Lost dispatches: documents whose message was sent but never claimed by a worker.

Finds documents ``pending`` that were dispatched before ``older_than`` (the pass's ``now``
minus the dispatch timeout) under a run that is still processing (keyset batches by id;
the partial index ``ix_documents_dispatched_pending``). The broker lost the message, so
the rule decides ``REDISPATCH_UNCLAIMED``: the next attempt with a new dispatch row, not
counted as a lost worker. The sweeper holds this rule back while the outbox is not
draining (``outbox_backlog``): the message may only not have been sent yet. The guarded
write is the document UPDATE fenced on (id, run, attempt, ``pending``, the
``dispatched_at`` it was found with): a second sweep, or a claim that got there first,
matches nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.messaging import DOCUMENTS_QUEUE, PROCESS_DOCUMENT_ACTOR
from fileintel.models.states import DocumentState
from fileintel.models.tables import documents_t
from fileintel.store.liveness import document_run_is_processing
from fileintel.store.outbox_rows import add_dispatch
from fileintel.sweeper.decisions import Decision
from fileintel.sweeper.notes import add_note


def unclaimed_dispatches(
    conn: Connection, older_than: dt.datetime, after_id: int, limit: int
) -> list[Row[Any]]:
    """Pending documents dispatched before ``older_than`` and never claimed (keyset by id)."""
    d = documents_t.c
    return list(
        conn.execute(
            select(d.id, d.run_id, d.attempt, d.collection_id, d.dispatched_at)
            .where(
                d.state == DocumentState.PENDING.value,
                d.dispatched_at.is_not(None),
                d.dispatched_at < older_than,
                d.id > after_id,
                document_run_is_processing(),
            )
            .order_by(d.id)
            .limit(limit)
        )
    )


def describe(doc: Any) -> str:
    """What a dry run says about one document ``unclaimed_dispatches`` found."""
    return (
        f"document {doc.id} (run {doc.run_id}): dispatched at "
        f"{doc.dispatched_at.isoformat()}, never claimed"
    )


def recover_unclaimed(conn: Connection, doc: Any, now: dt.datetime) -> Decision | None:
    """Re-dispatch a document whose message was never claimed (lost by the broker)."""
    d = documents_t.c
    age = (now - doc.dispatched_at).total_seconds()
    updated = conn.execute(
        update(documents_t)
        .where(
            d.id == doc.id,
            d.run_id == doc.run_id,
            d.attempt == doc.attempt,
            d.state == DocumentState.PENDING.value,
            d.dispatched_at == doc.dispatched_at,
        )
        .values(attempt=doc.attempt + 1, dispatched_at=db_now())
    ).rowcount
    if updated != 1:
        return None
    add_note(
        conn,
        doc.collection_id,
        doc.run_id,
        doc.id,
        Decision.REDISPATCH_UNCLAIMED,
        f"document {doc.id} was dispatched {age:.0f} s ago and never claimed "
        f"(message lost?); re-dispatched as attempt {doc.attempt + 1}",
    )
    add_dispatch(
        conn,
        queue_name=DOCUMENTS_QUEUE,
        actor_name=PROCESS_DOCUMENT_ACTOR,
        args=[doc.run_id, doc.id, doc.attempt + 1],
    )
    return Decision.REDISPATCH_UNCLAIMED
