"""Expired leases: documents whose worker stopped heartbeating.

Finds documents ``processing`` whose lease ended before the pass's ``now``, under a run that
is still processing (keyset batches by id; the partial index
``ix_documents_lease_in_flight``). Decides ``REDISPATCH_EXPIRED`` (back to ``pending`` as
the next attempt, with a dispatch row) or, once the worker was lost ``max_attempts`` times,
``FAIL_DOCUMENT`` (no chunks kept, the ``document.failed`` event a worker writes, and the
run closed if it was its last open document). The guarded write is the document UPDATE
fenced on (id, run, attempt, ``processing``, lease still expired): of two sweeps, or a sweep
and the worker's late finish, exactly one matches the row and the other writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.messaging import DOCUMENTS_QUEUE, PROCESS_DOCUMENT_ACTOR
from fileintel.models.states import DocumentState
from fileintel.models.tables import collections_t, documents_t, runs_t
from fileintel.store.chunks import drop_chunks
from fileintel.store.document_work import Claim
from fileintel.store.lifecycle import finalize_run, move_counters, run_is_finished
from fileintel.store.liveness import document_run_is_processing
from fileintel.store.outbox_rows import add_dispatch
from fileintel.store.progress_events import write_progress_event
from fileintel.sweeper.decisions import Decision
from fileintel.sweeper.notes import ACTOR, add_note


def expired_leases(
    conn: Connection, now: dt.datetime | None, after_id: int, limit: int
) -> list[Row[Any]]:
    """Documents in processing whose lease ended before ``now`` (keyset by id); with ``now``
    None every lease, expired or not (their holders are known to be gone, ``orphans``)."""
    d = documents_t.c
    expired = [d.lease_expires_at < now] if now is not None else []
    return list(
        conn.execute(
            select(d.id, d.run_id, d.attempt, d.lost_leases, d.collection_id, d.lease_expires_at)
            .where(
                d.state == DocumentState.PROCESSING.value,
                *expired,
                d.id > after_id,
                document_run_is_processing(),
            )
            .order_by(d.id)
            .limit(limit)
        )
    )


def describe(doc: Any) -> str:
    """What a dry run says about one document ``expired_leases`` found."""
    return (
        f"document {doc.id} (run {doc.run_id}): lease expired at {doc.lease_expires_at.isoformat()}"
    )


def recover_expired_lease(
    conn: Connection, doc: Any, now: dt.datetime, max_attempts: int, *, holder_gone: bool = False
) -> Decision | None:
    """Re-dispatch (next attempt) or fail a document whose lease expired; None if moot.

    ``holder_gone``: the lease has not run out, but the process that held it is known to be
    dead (the embedded mode's lock says so, ``orphans``); fenced on the lease it was found with.
    """
    d = documents_t.c
    lost = doc.lost_leases + 1
    exhausted = lost >= max_attempts
    if holder_gone:
        found = (
            f"document {doc.id} was held by an embedded worker that is gone "
            f"(attempt {lost}/{max_attempts})"
        )
        lease_guard = d.lease_expires_at == doc.lease_expires_at
    else:
        age = (now - doc.lease_expires_at).total_seconds()
        found = (
            f"lease of document {doc.id} expired {age:.0f} s ago (attempt {lost}/{max_attempts})"
        )
        lease_guard = d.lease_expires_at < now
    guard = [
        d.id == doc.id,
        d.run_id == doc.run_id,
        d.attempt == doc.attempt,
        d.state == DocumentState.PROCESSING.value,
        lease_guard,
    ]
    error = f"worker lost {lost} times ({'worker gone' if holder_gone else 'lease expired'})"
    _lock_collection(conn, doc.collection_id)
    if exhausted:
        decision = Decision.FAIL_DOCUMENT
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
        decision = Decision.REDISPATCH_EXPIRED
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
    add_note(conn, doc.collection_id, doc.run_id, doc.id, decision, reason)
    if exhausted:
        _document_failed_event(conn, doc, error, counters)
        if run_is_finished(counters):
            finalize_run(conn, doc.run_id, actor=ACTOR, message=f"{reason}; run finished")
        return decision
    add_dispatch(
        conn,
        queue_name=DOCUMENTS_QUEUE,
        actor_name=PROCESS_DOCUMENT_ACTOR,
        args=[doc.run_id, doc.id, doc.attempt + 1],
    )
    return decision


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
