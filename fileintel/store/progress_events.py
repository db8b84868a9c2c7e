"""A finished document's progress event (``document.done`` / ``document.failed``).

Written in the transaction that finishes the document (a worker's finish, or the sweeper
giving up on it), with the run's document counters after the move. A worker's finish has
its backend write it with the outcome (``Backend.finish_document``); the sweeper writes it
here. Both build it with ``progress_payload``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from fileintel.models import events
from fileintel.models.states import DocumentState
from fileintel.store.claims import Claim
from fileintel.store.outbox_rows import add_event


def progress_payload(
    claim: Claim, state: DocumentState, error: str | None, chunks: int
) -> dict[str, Any]:
    """The ``document.<state>`` event of a finished attempt, without the run's counters."""
    return events.document_progress(
        state=state.value,
        collection_id=claim.collection_id,
        collection_name=claim.collection_name,
        run_id=claim.run_id,
        document_id=claim.document_id,
        path=claim.path,
        error=error,
        chunks=chunks,
        attempt=claim.attempt,
    )


def write_progress_event(
    conn: Connection,
    claim: Claim,
    state: DocumentState,
    error: str | None,
    chunks: int,
    counters: Any,
) -> None:
    """Insert the ``document.<state>`` event of a finished attempt, with the run's counters."""
    payload = events.with_counters(progress_payload(claim, state, error, chunks), counters)
    add_event(conn, payload["type"], claim.collection_id, payload)
