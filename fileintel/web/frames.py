"""An event in the SSE wire format, encoded once per event (not once per client)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fileintel.store.event_tail import PositionedEvent


@dataclass(frozen=True)
class Frame:
    """One event as sent: its position, its collection (for filters) and its text."""

    position: int
    collection: str | None
    text: str


def frame_of(event: PositionedEvent) -> Frame:
    """``id:`` the position, ``data:`` the event object as one JSON line."""
    data = json.dumps(event.payload, separators=(",", ":"), default=str)
    return Frame(
        event.position,
        event.payload.get("collection_id"),
        f"id: {event.position}\ndata: {data}\n\n",
    )
