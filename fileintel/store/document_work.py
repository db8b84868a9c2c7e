"""A worker's writes for one document: claim it, keep its lease, give it back, finish it.

Every write is fenced on (run id, attempt number, state): a worker whose run was superseded
or cancelled, or whose attempt was re-dispatched after its lease expired, gets ``StaleRun``
and its transaction (chunks included) rolls back, so late finishers never change anything
(invariant F). Finishing replaces the document's chunks, so a redelivered message leaves the
database as one delivery would (invariant I). The statements are the backend's
(``Backend.claim_document``, ``Backend.finish_document``); what they mean is decided here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from fileintel.backends import Backend, ChunksExist, DocumentOutcome, backend_for, portable
from fileintel.errors import StaleRun
from fileintel.models.states import DocumentState, RunStatus
from fileintel.models.tables import documents_t
from fileintel.pipeline import ProcessedDocument
from fileintel.store.claims import Claim
from fileintel.store.lifecycle import (
    finalize_run,
    move_counters,
    options_fingerprint,
    run_is_finished,
)
from fileintel.store.progress_events import progress_payload
from fileintel.store.transitions import Transition

__all__ = [
    "Claim",
    "Finished",
    "claim_document",
    "commit_outcome",
    "finish_document",
    "release_claim",
    "renew_lease",
    "take_document",
]


@dataclass(frozen=True)
class Finished:
    """What finishing a document did; ``run_finished`` is set when it closed the run."""

    state: DocumentState
    counters: Any
    run_finished: Transition | None


def _stale(
    conn: Connection,
    run_id: str,
    document_id: int,
    attempt: int,
    expected: DocumentState = DocumentState.PROCESSING,
) -> StaleRun:
    """Explain why a fenced document write matched nothing."""
    d = documents_t.c
    row = conn.execute(
        select(d.run_id, d.attempt, d.state).where(d.id == document_id)
    ).one_or_none()
    if row is None:
        reason = "the document no longer exists"
    elif row.run_id != run_id:
        reason = f"the document now belongs to run {row.run_id}"
    elif row.attempt != attempt:
        reason = f"attempt {attempt} was superseded by attempt {row.attempt}"
    elif row.state == expected.value:
        reason = "the run is no longer the collection's processing run"
    else:
        reason = f"the document is {row.state} (already handled)"
    return StaleRun(f"document {document_id}", run_id, reason)


def claim_document(
    conn: Connection, run_id: str, document_id: int, attempt: int, lease_seconds: float
) -> Claim:
    """``pending → processing`` for this attempt, with a lease; StaleRun if not ours."""
    row = backend_for(conn).claim_document(conn, run_id, document_id, attempt, lease_seconds)
    if row is None:
        raise _stale(conn, run_id, document_id, attempt, DocumentState.PENDING)
    if row.status != RunStatus.PROCESSING:
        raise StaleRun(f"document {document_id}", run_id, f"the run is {row.status}")
    return Claim(
        run_id,
        document_id,
        attempt,
        row.collection_id,
        row.name,
        row.path,
        row.media_type,
        row.sha256,
        row.options,
        _utc(row.lease_expires_at),
        row.had_chunks,
    )


def take_document(
    engine: Engine, run_id: str, document_id: int, attempt: int, lease_seconds: float
) -> Claim:
    """``claim_document`` as its own transaction (one round trip on PostgreSQL)."""
    with backend_for(engine).hot_tx(engine) as conn:
        return claim_document(conn, run_id, document_id, attempt, lease_seconds)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def renew_lease(conn: Connection, claim: Claim, lease_seconds: float) -> dt.datetime:
    """Push the lease forward (a heartbeat); StaleRun when the claim was taken away."""
    expires = conn.execute(
        portable.RENEW_LEASE, _fence(claim) | {"b_lease": lease_seconds}
    ).scalar_one_or_none()
    if expires is None:
        raise _stale(conn, claim.run_id, claim.document_id, claim.attempt)
    conn.execute(portable.RUN_HEARTBEAT, {"b_run": claim.run_id})
    return expires


def release_claim(conn: Connection, claim: Claim) -> None:
    """``processing → pending`` for the same attempt, so a retry of the message can claim it."""
    if conn.execute(portable.RELEASE, _fence(claim)).rowcount != 1:
        raise _stale(conn, claim.run_id, claim.document_id, claim.attempt)
    move_counters(
        conn, claim.collection_id, claim.run_id, DocumentState.PROCESSING, DocumentState.PENDING
    )


def _fence(claim: Claim) -> dict[str, Any]:
    return portable.fence(claim.run_id, claim.document_id, claim.attempt)


def finish_document(
    conn: Connection,
    claim: Claim,
    result: ProcessedDocument | None,
    error: str | None = None,
    *,
    actor: str = "worker",
) -> Finished:
    """Write a document's outcome; the last document of the run closes the run.

    One transaction: the document's state, its chunks (replaced, never duplicated), the
    collection's and run's counters, a progress event, and, when it is the last one, the
    run's and collection's final status with history and outbox event.
    """
    return _finish(conn, backend_for(conn), claim, result, error, actor=actor, begin=False)


def commit_outcome(
    engine: Engine,
    claim: Claim,
    result: ProcessedDocument | None,
    error: str | None = None,
    *,
    actor: str = "worker",
) -> Finished:
    """``finish_document`` as its own hot transaction (four round trips on PostgreSQL,
    committed without waiting for durability unless it closed the run)."""
    backend = backend_for(engine)
    try:
        with backend.hot_tx(engine) as conn:
            return _finish(
                conn, backend, claim, result, error, actor=actor, begin=True,
                add_first=not claim.had_chunks,
            )  # fmt: skip
    except ChunksExist:
        # The document had no chunks at the claim and has some now: only a finish of this
        # same claim writes them (a second call). The statement first, whose fence says so.
        with backend.hot_tx(engine) as conn:
            return _finish(conn, backend, claim, result, error, actor=actor, begin=True)


def _finish(
    conn: Connection,
    backend: Backend,
    claim: Claim,
    result: ProcessedDocument | None,
    error: str | None,
    *,
    actor: str,
    begin: bool,
    add_first: bool = False,
) -> Finished:
    state = DocumentState.DONE if result is not None else DocumentState.FAILED
    if result is None:
        error = error or "failed"
    chunks = len(result.chunks) if result is not None else 0
    outcome = DocumentOutcome(
        run_id=claim.run_id,
        document_id=claim.document_id,
        attempt=claim.attempt,
        collection_id=claim.collection_id,
        result=result,
        error=error,
        sha256=claim.sha256,
        fingerprint=options_fingerprint(claim.options),
        payload=progress_payload(claim, state, error, chunks),
    )
    counters = backend.finish_document(conn, outcome, begin=begin, add_first=add_first)
    if counters is None:
        raise _stale(conn, claim.run_id, claim.document_id, claim.attempt)
    closed = None
    if run_is_finished(counters):
        closed = finalize_run(conn, claim.run_id, actor=actor)
        if begin:
            backend.make_durable(conn)  # the run's end is never rolled back by a crash
    return Finished(state, counters, closed)
