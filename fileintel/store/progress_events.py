"""A finished document's progress event (``document.done`` / ``document.failed``).

Written in the transaction that finishes the document (a worker's finish, or the
sweeper giving up on it), with the run's document counters after the move. On
PostgreSQL the worker's finish statement adds the counters itself (``with_counters`` is
what it computes).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from fileintel.models.states import DocumentState
from fileintel.store.outbox_rows import add_event, iso, new_event_id

if TYPE_CHECKING:  # document_work imports this module
    from fileintel.store.document_work import Claim


def progress_payload(
    claim: Claim, state: DocumentState, error: str | None, chunks: int
) -> dict[str, Any]:
    """The ``document.<state>`` event of a finished attempt, without the run's counters
    (``with_counters`` adds them; on PostgreSQL the finish statement does)."""
    event_type = f"document.{state.value}"
    return {
        "event_id": new_event_id(),
        "type": event_type,
        "collection_id": claim.collection_id,
        "collection_name": claim.collection_name,
        "run_id": claim.run_id,
        "document_id": claim.document_id,
        "path": claim.path,
        "state": state.value,
        "error": error,
        "chunks": chunks,
        "attempt": claim.attempt,
        "at": iso(dt.datetime.now(dt.UTC)),
    }


def with_counters(payload: dict[str, Any], counters: Any) -> dict[str, Any]:
    """A progress event with the run's document counters after the move."""
    return {
        **payload,
        "documents": {
            "total": counters.documents_total,
            "pending": counters.documents_pending,
            "processing": counters.documents_processing,
            "done": counters.documents_done,
            "failed": counters.documents_failed,
            "skipped": counters.documents_skipped,
        },
    }


def write_progress_event(
    conn: Connection,
    claim: Claim,
    state: DocumentState,
    error: str | None,
    chunks: int,
    counters: Any,
) -> None:
    """Insert the ``document.<state>`` event of a finished attempt, with the run's counters."""
    payload = progress_payload(claim, state, error, chunks)
    add_event(conn, payload["type"], claim.collection_id, with_counters(payload, counters))
