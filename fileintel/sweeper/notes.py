"""Run notes: the record of a sweeper decision that is not a status change.

A decision that moves a collection's status leaves a history row (``status_events``); every
other one leaves a ``run_notes`` row, written in the decision's transaction, so a note
exists exactly when the decision was applied. ``collections status --explain`` shows them.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.models.tables import run_notes_t
from fileintel.sweeper.decisions import Decision

#: The actor named in the notes and history rows the sweeper writes.
ACTOR = "sweeper"


def add_note(
    conn: Connection,
    collection_id: str,
    run_id: str,
    document_id: int | None,
    decision: Decision,
    message: str,
    actor: str = ACTOR,
) -> None:
    """Record a decision that is not a status change (shown by ``status --explain``)."""
    conn.execute(
        insert(run_notes_t).values(
            collection_id=collection_id,
            run_id=run_id,
            document_id=document_id,
            decision=decision.value,
            message=message,
            actor=actor,
            at=db_now(),
        )
    )
