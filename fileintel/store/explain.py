"""``collections status --explain``: why a collection is where it is, and what can happen next."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.models.events import iso
from fileintel.models.states import TRANSITIONS, CollectionStatus, DocumentState, RunStatus
from fileintel.models.tables import documents_t, run_notes_t, runs_t
from fileintel.store.status import history

SHOWN = 10


def explain(conn: Connection, collection: Any) -> dict[str, Any]:
    """Last transitions, recovery notes, live leases, queue position and allowed next moves."""
    now = conn.execute(select(db_now())).scalar_one()
    n = run_notes_t.c
    notes = conn.execute(
        select(n.at, n.decision, n.document_id, n.message, n.actor, n.run_id)
        .where(n.collection_id == collection.id)
        .order_by(n.id.desc())
        .limit(SHOWN)
    ).all()
    d = documents_t.c
    leases = conn.execute(
        select(d.id, d.path, d.attempt, d.lease_expires_at)
        .where(d.collection_id == collection.id, d.state == DocumentState.PROCESSING.value)
        .order_by(d.lease_expires_at)
        .limit(SHOWN)
    ).all()
    status = CollectionStatus(collection.status)
    return {
        "last_transitions": history(conn, collection.id)[-SHOWN:],
        "notes": [
            {
                "at": iso(r.at),
                "decision": r.decision,
                "document_id": r.document_id,
                "run_id": r.run_id,
                "message": r.message,
                "actor": r.actor,
            }
            for r in reversed(notes)
        ],
        "leases": [
            {
                "document_id": r.id,
                "path": r.path,
                "attempt": r.attempt,
                "lease_seconds_left": round((r.lease_expires_at - now).total_seconds(), 1),
            }
            for r in leases
        ],
        "queue_position": _queue_position(conn, collection)
        if status is CollectionStatus.QUEUED
        else None,
        "allowed_next": sorted(s.value for s in TRANSITIONS[status]),
    }


def _queue_position(conn: Connection, collection: Any) -> int:
    """1 + the number of runs queued before this collection's run."""
    r = runs_t.c
    requested = conn.execute(
        select(r.requested_at).where(r.id == collection.current_run_id)
    ).scalar_one()
    ahead = conn.execute(
        select(func.count()).where(r.status == RunStatus.QUEUED.value, r.requested_at < requested)
    ).scalar_one()
    return int(ahead) + 1
