"""The events FileIntel announces, each payload built by one function.

A status change and a document's progress are written to the outbox in the transaction
that makes them; the relay publishes the payload as it is stored. Some fields are only
known to the database when it writes the row (the history ``seq``, the status it moved
from, its clock, the run's counters after the move): a backend merges exactly those in,
in SQL or from the row it got back, and nothing else (``DATABASE_FIELDS``,
``COUNTER_FIELDS``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

#: The type of every collection status change event.
STATUS_CHANGED = "collection.status_changed"
#: The last event of a collection: it and its history are gone (``collections delete``).
COLLECTION_DELETED = "collection.deleted"
#: Progress events are ``document.<state>``; the relay's durability rule keys on this prefix.
DOCUMENT_EVENT_PREFIX = "document."

#: Fields of a status change that the database computes as it writes it:
#: collection name, history seq, previous status, the change's time.
DATABASE_FIELDS = ("collection_name", "seq", "from", "at")

#: The run's document counters, as ``documents.<name>`` in events and JSON outputs, read
#: from the ``documents_<name>`` columns of runs and collections.
COUNTER_FIELDS = ("total", "pending", "processing", "done", "failed", "skipped")


def iso(at: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z suffix, the form every payload and JSON output uses."""
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def new_event_id() -> str:
    """A fresh, globally unique event id (consumers dedupe by it)."""
    return str(uuid.uuid4())


def status_changed(
    *,
    event_id: str,
    collection_id: str,
    run_id: str | None,
    to_status: str,
    message: str | None,
    actor: str,
) -> dict[str, Any]:
    """A ``collection.status_changed`` event without the ``DATABASE_FIELDS``."""
    return {
        "event_id": event_id,
        "type": STATUS_CHANGED,
        "collection_id": collection_id,
        "run_id": run_id,
        "to": to_status,
        "message": message,
        "actor": actor,
    }


def with_database_fields(
    payload: dict[str, Any],
    *,
    collection_name: str,
    seq: int,
    from_status: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    """A status change event completed with what the database computed."""
    return {
        **payload,
        "collection_name": collection_name,
        "seq": seq,
        "from": from_status,
        "at": iso(at),
    }


def collection_deleted(
    *,
    collection_id: str,
    collection_name: str,
    run_id: str | None,
    last_status: str,
    seq: int,
    documents: int,
    actor: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """A ``collection.deleted`` event: the record that outlives the collection's history.

    ``seq`` follows the last history row, so a consumer ordering by ``seq`` sees it last.
    """
    return {
        "event_id": new_event_id(),
        "type": COLLECTION_DELETED,
        "collection_id": collection_id,
        "collection_name": collection_name,
        "run_id": run_id,
        "seq": seq,
        "from": last_status,
        "documents": documents,
        "actor": actor,
        "at": iso(at),
    }


def document_progress(
    *,
    state: str,
    collection_id: str,
    collection_name: str,
    run_id: str,
    document_id: int,
    path: str,
    error: str | None,
    chunks: int,
    attempt: int,
) -> dict[str, Any]:
    """A ``document.<state>`` event of a finished attempt, without the run's counters
    (``with_counters`` adds them; on PostgreSQL the finish statement does)."""
    event_type = f"{DOCUMENT_EVENT_PREFIX}{state}"
    return {
        "event_id": new_event_id(),
        "type": event_type,
        "collection_id": collection_id,
        "collection_name": collection_name,
        "run_id": run_id,
        "document_id": document_id,
        "path": path,
        "state": state,
        "error": error,
        "chunks": chunks,
        "attempt": attempt,
        "at": iso(dt.datetime.now(dt.UTC)),
    }


def counters(row: Any) -> dict[str, int]:
    """The ``documents`` object, from a row with ``documents_<name>`` columns."""
    return {name: getattr(row, f"documents_{name}") for name in COUNTER_FIELDS}


def with_counters(payload: dict[str, Any], row: Any) -> dict[str, Any]:
    """A progress event with the run's document counters after the move."""
    return {**payload, "documents": counters(row)}
