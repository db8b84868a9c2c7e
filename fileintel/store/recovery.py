"""The sweeper's database operations on documents: find expired or lost work, recover it.

Each ``recover_*`` function handles one item in the caller's transaction with a guarded
UPDATE that re-checks the condition it was found by (lease still expired, attempt
unchanged, ...), so two sweeps, or a sweep racing a finishing worker, make one decision
between them; the loser's UPDATE matches nothing and it moves on (invariants H and F).
The run rules are in ``fileintel.store.run_recovery``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.messaging import DOCUMENTS_QUEUE, PROCESS_DOCUMENT_ACTOR
from fileintel.models.states import DocumentState
from fileintel.models.tables import collections_t, documents_t, outbox_t, run_notes_t, runs_t
from fileintel.outbox.writer import DISPATCH, add_dispatch
from fileintel.store.chunks import drop_chunks
from fileintel.store.document_work import Claim
from fileintel.store.lifecycle import finalize_run, move_counters, run_is_finished
from fileintel.store.liveness import document_run_is_processing
from fileintel.store.progress_events import write_progress_event

ACTOR = "sweeper"

#: One decision: runs in a transaction, returns the decision's name or None when moot.
Decide = Callable[[Connection], "str | None"]


def add_note(
    conn: Connection,
    collection_id: str,
    run_id: str,
    document_id: int | None,
    decision: str,
    message: str,
    actor: str = ACTOR,
) -> None:
    """Record a decision that is not a status change (shown by ``status --explain``)."""
    conn.execute(
        insert(run_notes_t).values(
            collection_id=collection_id,
            run_id=run_id,
            document_id=document_id,
            decision=decision,
            message=message,
            actor=actor,
            at=db_now(),
        )
    )


def expired_leases(conn: Connection, now: dt.datetime, after_id: int, limit: int) -> list[Row[Any]]:
    """Documents in processing whose lease ended before ``now`` (keyset by id)."""
    d = documents_t.c
    return list(
        conn.execute(
            select(d.id, d.run_id, d.attempt, d.lost_leases, d.collection_id, d.lease_expires_at)
            .where(
                d.state == DocumentState.PROCESSING.value,
                d.lease_expires_at < now,
                d.id > after_id,
                document_run_is_processing(),
            )
            .order_by(d.id)
            .limit(limit)
        )
    )


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


def recover_expired_lease(
    conn: Connection, doc: Any, now: dt.datetime, max_attempts: int
) -> str | None:
    """Re-dispatch (next attempt) or fail a document whose lease expired; None if moot."""
    d = documents_t.c
    lost = doc.lost_leases + 1
    exhausted = lost >= max_attempts
    age = (now - doc.lease_expires_at).total_seconds()
    found = f"lease of document {doc.id} expired {age:.0f} s ago (attempt {lost}/{max_attempts})"
    guard = [
        d.id == doc.id,
        d.run_id == doc.run_id,
        d.attempt == doc.attempt,
        d.state == DocumentState.PROCESSING.value,
        d.lease_expires_at < now,
    ]
    error = f"worker lost {lost} times (lease expired)"
    _lock_collection(conn, doc.collection_id)
    if exhausted:
        reason = f"{found}; no attempts left, marked failed"
        values: dict[str, Any] = {
            "state": DocumentState.FAILED.value,
            "lease_expires_at": None,
            "lost_leases": lost,
            "error": error,
            "finished_at": db_now(),
            # As a worker's failed finish: no chunks kept, none counted.
            "chunk_count": 0,
            "embedded_count": 0,
        }
    else:
        reason = f"{found}; re-dispatched as attempt {doc.attempt + 1}"
        values = {
            "state": DocumentState.PENDING.value,
            "attempt": doc.attempt + 1,
            "lost_leases": lost,
            "lease_expires_at": None,
            "dispatched_at": db_now(),
        }
    if conn.execute(update(documents_t).where(*guard).values(values)).rowcount != 1:
        return None
    target = DocumentState.FAILED if exhausted else DocumentState.PENDING
    # A failed document keeps no chunks from an earlier run: search must not return them.
    dropped, dropped_embedded = drop_chunks(conn, doc.id) if exhausted else (0, 0)
    counters = move_counters(
        conn,
        doc.collection_id,
        doc.run_id,
        DocumentState.PROCESSING,
        target,
        chunks_delta=-dropped,
        embedded_delta=-dropped_embedded,
    )
    add_note(
        conn,
        doc.collection_id,
        doc.run_id,
        doc.id,
        "fail_document" if exhausted else "redispatch_expired",
        reason,
    )
    if exhausted:
        _document_failed_event(conn, doc, error, counters)
        if run_is_finished(counters):
            finalize_run(conn, doc.run_id, actor=ACTOR, message=f"{reason}; run finished")
        return "fail_document"
    add_dispatch(
        conn,
        queue_name=DOCUMENTS_QUEUE,
        actor_name=PROCESS_DOCUMENT_ACTOR,
        args=[doc.run_id, doc.id, doc.attempt + 1],
    )
    return "redispatch_expired"


def _lock_collection(conn: Connection, collection_id: str) -> None:
    """Take the collection row lock before the document's, as every writer does (a worker's
    finish locks collection, document, run), so a sweep racing a finish waits instead of
    deadlocking. Rendered on PostgreSQL; SQLite has one writer at a time."""
    c = collections_t.c
    conn.execute(select(c.id).where(c.id == collection_id).with_for_update())


def _document_failed_event(conn: Connection, doc: Any, error: str, counters: Any) -> None:
    """The progress event a worker writes for a failed document (``document.failed``),
    written by the same function, for the attempt whose worker was lost."""
    d, c, r = documents_t.c, collections_t.c, runs_t.c
    row = conn.execute(
        select(d.path, d.media_type, d.sha256, c.name, r.options)
        .select_from(documents_t)
        .join(collections_t, c.id == d.collection_id)
        .join(runs_t, r.id == d.run_id)
        .where(d.id == doc.id)
    ).one()
    lost = Claim(
        doc.run_id,
        doc.id,
        doc.attempt,
        doc.collection_id,
        row.name,
        row.path,
        row.media_type,
        row.sha256,
        dict(row.options),
        doc.lease_expires_at,
    )
    write_progress_event(conn, lost, DocumentState.FAILED, error, 0, counters)


@dataclass(frozen=True)
class UnsentDispatch:
    """A dispatch row the relay has not published."""

    id: int
    topic: str
    created_at: dt.datetime


def unsent_dispatch(
    conn: Connection, now: dt.datetime, created_before: dt.datetime
) -> UnsentDispatch | None:
    """The oldest dispatch row that is due, not parked, and still unpublished although it
    was written before ``created_before``; None while the outbox drains.

    Such a row means the relay is not sending (down, or far behind): a document or a run
    start that looks lost may simply not have been sent yet. Reads the unpublished rows in
    id order (``ix_outbox_unpublished``) and stops at the first match.
    """
    o = outbox_t.c
    row = conn.execute(
        select(o.id, o.topic, o.created_at)
        .where(
            o.published_at.is_(None),
            o.kind == DISPATCH,
            o.parked_at.is_(None),
            o.available_at <= now,
            o.created_at < created_before,
        )
        .order_by(o.id)
        .limit(1)
    ).one_or_none()
    return None if row is None else UnsentDispatch(int(row.id), str(row.topic), row.created_at)


def recover_unclaimed(conn: Connection, doc: Any, now: dt.datetime) -> str | None:
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
        "redispatch_unclaimed",
        f"document {doc.id} was dispatched {age:.0f} s ago and never claimed "
        f"(message lost?); re-dispatched as attempt {doc.attempt + 1}",
    )
    add_dispatch(
        conn,
        queue_name=DOCUMENTS_QUEUE,
        actor_name=PROCESS_DOCUMENT_ACTOR,
        args=[doc.run_id, doc.id, doc.attempt + 1],
    )
    return "redispatch_unclaimed"
