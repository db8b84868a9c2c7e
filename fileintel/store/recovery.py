"""The sweeper's database operations: find expired or lost work, and recover it.

Each ``recover_*`` function handles one item in the caller's transaction with a guarded
UPDATE that re-checks the condition it was found by (lease still expired, attempt
unchanged, ...), so two sweeps, or a sweep racing a finishing worker, make one decision
between them; the loser's UPDATE matches nothing and it moves on (invariants H and F).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, exists, insert, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.messaging import (
    DOCUMENTS_QUEUE,
    PROCESS_DOCUMENT_ACTOR,
    RUNS_QUEUE,
    START_RUN_ACTOR,
)
from fileintel.models.states import CollectionStatus, DocumentState, RunStatus
from fileintel.models.tables import collections_t, documents_t, run_notes_t, runs_t
from fileintel.models.transitions import transition
from fileintel.outbox.writer import add_dispatch
from fileintel.store.lifecycle import fail_run, finalize_run, move_counters, run_is_finished

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


def document_run_is_processing() -> Any:
    """Only documents of runs still processing: a cancelled run's leftovers are not work."""
    r = runs_t.c
    return exists().where(r.id == documents_t.c.run_id, r.status == RunStatus.PROCESSING.value)


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
    if exhausted:
        reason = f"{found}; no attempts left, marked failed"
        values: dict[str, Any] = {
            "state": DocumentState.FAILED.value,
            "lease_expires_at": None,
            "lost_leases": lost,
            "error": f"worker lost {lost} times (lease expired)",
            "finished_at": db_now(),
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
    counters = move_counters(conn, doc.collection_id, doc.run_id, DocumentState.PROCESSING, target)
    add_note(
        conn,
        doc.collection_id,
        doc.run_id,
        doc.id,
        "fail_document" if exhausted else "redispatch_expired",
        reason,
    )
    if exhausted:
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


def runs_needing_attention(
    conn: Connection, now: dt.datetime, start_timeout: dt.datetime
) -> list[Row[Any]]:
    """Current runs that are unstarted too long, past their deadline, or finished but open.

    Joined with their collection so disagreements between the two show up as well.
    """
    r, c = runs_t.c, collections_t.c
    open_states = [RunStatus.QUEUED.value, RunStatus.PROCESSING.value]
    finished = r.documents_done + r.documents_failed + r.documents_skipped
    return list(
        conn.execute(
            select(
                r.id,
                r.collection_id,
                r.status,
                r.deadline_at,
                r.heartbeat_at,
                r.requested_at,
                r.documents_total,
                r.documents_done,
                r.documents_failed,
                r.documents_skipped,
                c.status.label("collection_status"),
            )
            .join(collections_t, c.current_run_id == r.id)
            .where(
                (r.status.in_(open_states) & (r.deadline_at < now))
                | ((r.status == RunStatus.QUEUED.value) & (r.heartbeat_at < start_timeout))
                | ((r.status == RunStatus.PROCESSING.value) & (finished >= r.documents_total))
                | (r.status.in_(open_states) != c.status.in_(open_states))
            )
        )
    )


def recover_run(conn: Connection, run: Any, now: dt.datetime) -> str | None:
    """Decide for one run found by ``runs_needing_attention``; None when nothing applies."""
    status, coll = RunStatus(run.status), CollectionStatus(run.collection_status)
    if not status.is_terminal and coll.is_terminal:
        r = runs_t.c
        conn.execute(
            update(runs_t)
            .where(r.id == run.id, r.status == status.value)
            .values(status=coll.value, finished_at=db_now())
        )
        add_note(
            conn,
            run.collection_id,
            run.id,
            None,
            "repair",
            f"run was {status.value} but the collection is {coll.value}; run closed as "
            f"{coll.value}",
        )
        return "repair"
    if status.is_terminal and not coll.is_terminal:
        transition(
            conn,
            run.collection_id,
            CollectionStatus(status.value),
            actor=ACTOR,
            run_id=run.id,
            fence_run=True,
            message=f"repaired: the collection was {coll.value} but its run is {status.value}",
        )
        return "repair"
    if run.deadline_at is not None and run.deadline_at < now:
        fail_run(
            conn,
            run.id,
            f"run passed its deadline ({run.deadline_at.isoformat()}) while {status.value}",
            actor=ACTOR,
        )
        return "fail_deadline"
    if status is RunStatus.PROCESSING and run_is_finished(run):
        finalize_run(
            conn,
            run.id,
            actor=ACTOR,
            message="all documents were finished but the run was open; finalised",
        )
        return "finalize"
    if status is RunStatus.QUEUED:
        r = runs_t.c
        updated = conn.execute(
            update(runs_t)
            .where(
                r.id == run.id,
                r.status == RunStatus.QUEUED.value,
                r.heartbeat_at == run.heartbeat_at,
            )
            .values(heartbeat_at=db_now())
        ).rowcount
        if updated != 1:
            return None
        waited = (now - run.heartbeat_at).total_seconds()
        add_note(
            conn,
            run.collection_id,
            run.id,
            None,
            "redispatch_start",
            f"run {run.id} queued {waited:.0f} s without a worker starting it; "
            "start message re-dispatched",
        )
        add_dispatch(conn, queue_name=RUNS_QUEUE, actor_name=START_RUN_ACTOR, args=[run.id])
        return "redispatch_start"
    return None
