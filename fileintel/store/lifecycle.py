"""A run's life: start (fan out), finish (the last document closes it), cancel, fail.

Each function runs inside the caller's transaction and composes the collection's status
change (through ``fileintel.store.transitions``) with the run row and the outbox rows that
must commit with it. Lock order everywhere is collection row, then run row, so a cancel and
a finishing worker queue up instead of deadlocking.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from fileintel.backends.portable import move_counters
from fileintel.db import db_now
from fileintel.errors import NotFound, StaleRun
from fileintel.messaging import DOCUMENTS_QUEUE, PROCESS_DOCUMENT_ACTOR
from fileintel.models.states import CollectionStatus, DocumentState, RunStatus, final_status
from fileintel.models.tables import collections_t, documents_t, runs_t
from fileintel.store.outbox_rows import add_dispatches, dispatch_message

__all__ = [
    "RunStart",
    "begin_run",
    "cancel_run",
    "fail_run",
    "finalize_run",
    "move_counters",
    "options_fingerprint",
    "run_is_finished",
]
from fileintel.store.transitions import Transition, transition


def options_fingerprint(options: dict[str, Any]) -> str:
    """A stable hash of the options that change a document's output (``force`` excluded,
    and ``reembed``: a reembedded document is what processing with its embedder gives)."""
    relevant = {k: v for k, v in sorted(options.items()) if k not in ("force", "reembed")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RunStart:
    """What ``begin_run`` did: how many documents it dispatched and skipped."""

    run_id: str
    dispatched: int
    skipped: int
    finished: Transition | None


def begin_run(conn: Connection, run_id: str, *, actor: str = "worker") -> RunStart:
    """``queued → processing``: skip unchanged documents and dispatch the others.

    Raises StaleRun when the run is no longer the collection's current run or has already
    started (a redelivered start message), so a second delivery changes nothing.
    """
    run = conn.execute(select(runs_t).where(runs_t.c.id == run_id)).one_or_none()
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    if run.status != RunStatus.QUEUED:
        raise StaleRun(f"run {run_id}", run_id, f"it is already {run.status}")
    transition(
        conn,
        run.collection_id,
        CollectionStatus.PROCESSING,
        actor=actor,
        run_id=run_id,
        fence_run=True,
        only_from=[CollectionStatus.QUEUED],
        message=f"run started: {run.documents_total} documents",
    )
    _guarded_run_update(
        conn,
        run_id,
        RunStatus.QUEUED,
        status=RunStatus.PROCESSING.value,
        started_at=db_now(),
        heartbeat_at=db_now(),
    )
    skipped = 0 if run.options.get("force") else _skip_unchanged(conn, run)
    d = documents_t.c
    pending = (
        conn.execute(
            select(d.id)
            .where(d.run_id == run_id, d.state == DocumentState.PENDING.value)
            .order_by(d.id)
        )
        .scalars()
        .all()
    )
    if pending:
        conn.execute(
            update(documents_t)
            .where(d.run_id == run_id, d.state == DocumentState.PENDING.value)
            .values(attempt=1, dispatched_at=db_now())
        )
        add_dispatches(
            conn,
            [
                dispatch_message(DOCUMENTS_QUEUE, PROCESS_DOCUMENT_ACTOR, [run_id, doc_id, 1])
                for doc_id in pending
            ],
        )
    finished = None
    if not pending:
        finished = finalize_run(conn, run_id, actor=actor)
    return RunStart(run_id, len(pending), skipped, finished)


def _skip_unchanged(conn: Connection, run: Any) -> int:
    """Mark documents whose content and options match their last ``done`` as skipped."""
    d = documents_t.c
    result = conn.execute(
        update(documents_t)
        .where(
            d.run_id == run.id,
            d.state == DocumentState.PENDING.value,
            d.processed_sha256 == d.sha256,
            d.processed_options == options_fingerprint(run.options),
        )
        .values(state=DocumentState.SKIPPED.value, finished_at=db_now())
    )
    skipped = result.rowcount
    if skipped:
        move_counters(
            conn, run.collection_id, run.id, DocumentState.PENDING, DocumentState.SKIPPED, skipped
        )
    return skipped


def run_is_finished(counters: Any) -> bool:
    """True when every document of the run is done, failed or skipped."""
    finished = counters.documents_done + counters.documents_failed + counters.documents_skipped
    return bool(finished >= counters.documents_total)


def finalize_run(
    conn: Connection, run_id: str, *, actor: str = "worker", message: str | None = None
) -> Transition:
    """Close a run whose documents are all finished.

    The final status describes the collection, not only this run: a retry whose documents
    all fail again still leaves the earlier successes, so it ends ``completed_with_errors``.
    """
    run = conn.execute(select(runs_t).where(runs_t.c.id == run_id)).one()
    c = collections_t.c
    coll = conn.execute(
        select(c.documents_done, c.documents_failed, c.documents_skipped).where(
            c.id == run.collection_id
        )
    ).one()
    target = final_status(coll.documents_done, coll.documents_failed, coll.documents_skipped)
    summary = message or (
        f"{run.documents_done} done, {run.documents_failed} failed, "
        f"{run.documents_skipped} skipped of {run.documents_total}"
    )
    change = transition(
        conn,
        run.collection_id,
        target,
        actor=actor,
        run_id=run_id,
        fence_run=True,
        only_from=[CollectionStatus.PROCESSING],
        message=summary,
    )
    _guarded_run_update(
        conn, run_id, RunStatus.PROCESSING, status=target.value, finished_at=db_now()
    )
    return change


def cancel_run(conn: Connection, collection_id: str, *, actor: str = "cli") -> Transition:
    """``queued|processing → cancelled``; workers are fenced off at their next write."""
    c = collections_t.c
    current = conn.execute(select(c.current_run_id).where(c.id == collection_id)).scalar_one()
    change = transition(
        conn,
        collection_id,
        CollectionStatus.CANCELLED,
        actor=actor,
        run_id=current,
        fence_run=True,
        only_from=[CollectionStatus.QUEUED, CollectionStatus.PROCESSING],
        message=f"cancelled by {actor}",
    )
    r = runs_t.c
    conn.execute(
        update(runs_t)
        .where(r.id == current, r.status.in_([RunStatus.QUEUED.value, RunStatus.PROCESSING.value]))
        .values(status=RunStatus.CANCELLED.value, finished_at=db_now())
    )
    _release_in_flight(conn, collection_id, current)
    return change


def _release_in_flight(conn: Connection, collection_id: str, run_id: str) -> None:
    """Give a cancelled run's in-flight documents back (pending), counters included.

    Their workers' late writes stay fenced off: every write needs the document to be
    ``processing`` under the worker's attempt.
    """
    d, c, r = documents_t.c, collections_t.c, runs_t.c
    released = conn.execute(
        update(documents_t)
        .where(d.run_id == run_id, d.state == DocumentState.PROCESSING.value)
        .values(state=DocumentState.PENDING.value, lease_expires_at=None)
    ).rowcount
    if not released:
        return
    conn.execute(
        update(collections_t)
        .where(c.id == collection_id)
        .values(
            documents_pending=c.documents_pending + released,
            documents_processing=c.documents_processing - released,
        )
    )
    conn.execute(
        update(runs_t)
        .where(r.id == run_id)
        .values(
            documents_pending=r.documents_pending + released,
            documents_processing=r.documents_processing - released,
        )
    )


def fail_run(conn: Connection, run_id: str, reason: str, *, actor: str) -> Transition:
    """``queued|processing → failed`` for the run as a whole (deadline, lost start, ...)."""
    run = conn.execute(
        select(runs_t.c.collection_id, runs_t.c.status).where(runs_t.c.id == run_id)
    ).one()
    change = transition(
        conn,
        run.collection_id,
        CollectionStatus.FAILED,
        actor=actor,
        run_id=run_id,
        fence_run=True,
        only_from=[CollectionStatus.QUEUED, CollectionStatus.PROCESSING],
        message=reason,
    )
    _guarded_run_update(
        conn,
        run_id,
        RunStatus(run.status),
        status=RunStatus.FAILED.value,
        finished_at=db_now(),
        error=reason,
    )
    return change


def _guarded_run_update(conn: Connection, run_id: str, expected: RunStatus, **values: Any) -> None:
    r = runs_t.c
    updated = conn.execute(
        update(runs_t).where(and_(r.id == run_id, r.status == expected.value)).values(**values)
    ).rowcount
    if updated != 1:
        raise StaleRun(f"run {run_id}", run_id, f"it is no longer {expected.value}")
