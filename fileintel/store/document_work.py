"""A worker's writes for one document: claim it, keep its lease, give it back, finish it.

Every write is fenced on (run id, attempt number, state): a worker whose run was superseded
or cancelled, or whose attempt was re-dispatched after its lease expired, gets ``StaleRun``
and its transaction (chunks included) rolls back, so late finishers never change anything
(invariant F). Finishing replaces the document's chunks, so a redelivered message leaves the
database as one delivery would (invariant I).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from fileintel.db import manual_tx, write_tx
from fileintel.errors import StaleRun
from fileintel.models.states import DocumentState, RunStatus
from fileintel.models.tables import documents_t
from fileintel.pipeline import ProcessedDocument
from fileintel.store import document_work_pg
from fileintel.store import document_work_portable as portable
from fileintel.store.chunks import replace_chunks
from fileintel.store.lifecycle import (
    finalize_run,
    move_counters,
    options_fingerprint,
    run_is_finished,
)
from fileintel.store.outbox_rows import add_event
from fileintel.store.progress_events import progress_payload, with_counters
from fileintel.store.transitions import Transition


@dataclass(frozen=True)
class Claim:
    """A document owned by one attempt of one run, under a lease."""

    run_id: str
    document_id: int
    attempt: int
    collection_id: str
    collection_name: str
    path: str
    media_type: str
    sha256: str
    options: dict[str, Any]
    lease_expires_at: dt.datetime
    #: Whether the document had chunks (from an earlier run) when it was claimed; when
    #: unknown, True: the finish then deletes whatever the document has.
    had_chunks: bool = True


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
    if conn.dialect.name == "postgresql":
        row = document_work_pg.claim(conn, run_id, document_id, attempt, lease_seconds)
        if row is None:
            raise _stale(conn, run_id, document_id, attempt, DocumentState.PENDING)
        return _claim_from(row, run_id, document_id, attempt, row)
    row = _claim_portable(conn, run_id, document_id, attempt, lease_seconds)
    run = conn.execute(
        portable.CLAIM_CONTEXT,
        {"b_run": run_id, "b_collection": row.collection_id, "b_document": document_id},
    ).one()
    return _claim_from(row, run_id, document_id, attempt, run)


def take_document(
    engine: Engine, run_id: str, document_id: int, attempt: int, lease_seconds: float
) -> Claim:
    """``claim_document`` as its own transaction: one round trip on PostgreSQL."""
    tx = manual_tx(engine) if engine.dialect.name == "postgresql" else write_tx(engine)
    with tx as conn:
        return claim_document(conn, run_id, document_id, attempt, lease_seconds)


def _claim_from(row: Any, run_id: str, document_id: int, attempt: int, run: Any) -> Claim:
    """The claim from the document's row and ``run``'s ``status``, ``options``, collection
    ``name`` and ``had_chunks`` (on PostgreSQL one row holds both)."""
    if run.status != RunStatus.PROCESSING:
        raise StaleRun(f"document {document_id}", run_id, f"the run is {run.status}")
    return Claim(
        run_id,
        document_id,
        attempt,
        row.collection_id,
        run.name,
        row.path,
        row.media_type,
        row.sha256,
        dict(run.options),
        _utc(row.lease_expires_at),
        bool(run.had_chunks),
    )


def _claim_portable(
    conn: Connection, run_id: str, document_id: int, attempt: int, lease_seconds: float
) -> Any:
    """The claim as Core statements: the document, then the counters (SQLite)."""
    row = conn.execute(
        portable.CLAIM,
        portable.fence(run_id, document_id, attempt) | {"b_lease": lease_seconds},
    ).one_or_none()
    if row is None:
        raise _stale(conn, run_id, document_id, attempt, DocumentState.PENDING)
    move_counters(conn, row.collection_id, run_id, DocumentState.PENDING, DocumentState.PROCESSING)
    return row


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
    return _finish(conn, claim, result, error, actor=actor, begin=False)


def commit_outcome(
    engine: Engine,
    claim: Claim,
    result: ProcessedDocument | None,
    error: str | None = None,
    *,
    actor: str = "worker",
) -> Finished:
    """``finish_document`` as its own transaction. On PostgreSQL four round trips (more
    when it closes the run): the chunks' COPY with the BEGIN (two), the statement, COMMIT,
    which waits for the WAL flush only when the run closed (``document_work_pg``)."""
    if engine.dialect.name != "postgresql":
        with write_tx(engine) as conn:
            return finish_document(conn, claim, result, error, actor=actor)
    try:
        with manual_tx(engine) as conn:
            return _finish(
                conn, claim, result, error, actor=actor, begin=True, add_first=not claim.had_chunks
            )
    except document_work_pg.ChunksExist:
        # The document had no chunks at the claim and has some now: only a finish of this
        # same claim writes them (a second call). The statement first, whose fence says so.
        with manual_tx(engine) as conn:
            return _finish(conn, claim, result, error, actor=actor, begin=True)


def _finish(
    conn: Connection,
    claim: Claim,
    result: ProcessedDocument | None,
    error: str | None,
    *,
    actor: str,
    begin: bool,
    add_first: bool = False,
) -> Finished:
    state = DocumentState.DONE if result is not None else DocumentState.FAILED
    new_chunks = len(result.chunks) if result is not None else 0
    new_embedded = new_chunks if result is not None and result.embeddings is not None else 0
    if result is None:
        error = error or "failed"
    payload = progress_payload(claim, state, error, new_chunks)
    if conn.dialect.name == "postgresql":
        counters = _finish_pg(conn, claim, result, error, payload, begin, add_first)
    else:
        counters = _finish_portable(conn, claim, result, error, state, new_chunks, new_embedded)
        add_event(conn, payload["type"], claim.collection_id, with_counters(payload, counters))
    closed = finalize_run(conn, claim.run_id, actor=actor) if run_is_finished(counters) else None
    if closed is not None and begin and conn.dialect.name == "postgresql":
        document_work_pg.make_durable(conn)  # the run's end is never rolled back by a crash
    return Finished(state, counters, closed)


def _finish_pg(
    conn: Connection,
    claim: Claim,
    result: ProcessedDocument | None,
    error: str | None,
    payload: dict[str, Any],
    begin: bool,
    add_first: bool,
) -> Any:
    """The finish on PostgreSQL, chunks included; the run's counters after the move."""
    counters = document_work_pg.finish(
        conn,
        run_id=claim.run_id,
        document_id=claim.document_id,
        attempt=claim.attempt,
        collection_id=claim.collection_id,
        result=result,
        error=error,
        sha256=claim.sha256,
        fingerprint=options_fingerprint(claim.options),
        payload=payload,
        add_first=add_first,
        begin=begin,
    )
    if counters is None:
        raise _stale(conn, claim.run_id, claim.document_id, claim.attempt)
    return counters


def _finish_portable(
    conn: Connection,
    claim: Claim,
    result: ProcessedDocument | None,
    error: str | None,
    state: DocumentState,
    new_chunks: int,
    new_embedded: int,
) -> Any:
    """The finish as Core statements (SQLite); the run's counters after the move."""
    values: dict[str, Any]
    if result is None:
        finish, values = portable.FINISH_FAILED, {"b_error": error or "failed"}
    else:
        finish, values = (
            portable.FINISH_DONE,
            {
                "b_chunks": new_chunks,
                "b_embedded": new_embedded,
                "b_metadata": result.metadata,
                "b_sha256": claim.sha256,
                "b_options": options_fingerprint(claim.options),
            },
        )
    if conn.execute(finish, _fence(claim) | values).rowcount != 1:
        raise _stale(conn, claim.run_id, claim.document_id, claim.attempt)
    old_chunks, old_embedded = replace_chunks(conn, claim.document_id, claim.collection_id, result)
    return move_counters(
        conn,
        claim.collection_id,
        claim.run_id,
        DocumentState.PROCESSING,
        state,
        chunks_delta=new_chunks - old_chunks,
        embedded_delta=new_embedded - old_embedded,
    )
