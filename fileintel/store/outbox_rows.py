"""Writing outbox rows, always inside the caller's transaction.

Two kinds of row:
- ``event``: a fact for consumers (a status change, a document's progress). Its payload is
  exactly what the relay publishes; ``key`` is the collection id, so a collection's events
  leave in the order they were committed.
- ``dispatch``: a Dramatiq message (``Message.asdict()``) for the relay to enqueue. Nothing
  reaches the broker unless the transaction that decided it committed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from fileintel.backends import backend_for
from fileintel.db import db_now, mark_outbox_written
from fileintel.models.tables import OUTBOX_DISPATCH as DISPATCH
from fileintel.models.tables import OUTBOX_EVENT as EVENT
from fileintel.models.tables import outbox_t

__all__ = ["DISPATCH", "EVENT", "add_dispatch", "add_dispatches", "add_event", "dispatch_message"]


def add_event(conn: Connection, topic: str, key: str, payload: dict[str, Any]) -> int:
    """Insert an event row (payload must hold ``event_id``); return the outbox id."""
    return backend_for(conn).add_event(conn, topic, key, payload)


def dispatch_message(
    queue_name: str,
    actor_name: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    delay_seconds: float = 0.0,
) -> dict[str, Any]:
    """A Dramatiq message as a dict (``Message.asdict()`` layout), ready for a dispatch row."""
    options: dict[str, Any] = {}
    if delay_seconds > 0:
        options["eta"] = int((time.time() + delay_seconds) * 1000)
    return {
        "queue_name": queue_name,
        "actor_name": actor_name,
        "args": list(args),
        "kwargs": kwargs or {},
        "options": options,
        "message_id": str(uuid.uuid4()),
        "message_timestamp": int(time.time() * 1000),
    }


def add_dispatches(conn: Connection, messages: list[dict[str, Any]]) -> None:
    """Insert many due-now dispatch rows in one round trip (a run's fan-out)."""
    if not messages:
        return
    mark_outbox_written(conn)
    now = db_now()
    conn.execute(
        insert(outbox_t).values(kind=DISPATCH, created_at=now, available_at=now, attempts=0),
        [
            {"topic": m["actor_name"], "key": f"dispatch:{m['message_id']}", "payload": m}
            for m in messages
        ],
    )


def add_dispatch(
    conn: Connection,
    *,
    queue_name: str,
    actor_name: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    delay_seconds: float = 0.0,
    key: str | None = None,
) -> str:
    """Insert a dispatch row carrying a Dramatiq message; return the message id."""
    message = dispatch_message(queue_name, actor_name, args, kwargs, delay_seconds)
    message_id = str(message["message_id"])
    mark_outbox_written(conn)
    conn.execute(
        insert(outbox_t).values(
            kind=DISPATCH,
            topic=actor_name,
            key=key or f"dispatch:{message_id}",
            payload=message,
            created_at=db_now(),
            available_at=db_now(delay_seconds) if delay_seconds > 0 else db_now(),
            attempts=0,
        )
    )
    return message_id
