"""Following a collection's events as they happen (``collections watch``).

From the database: new ``status_events`` rows (seq above the last seen), polled. From the
Redis Stream when FILEINTEL_EVENTS_URL is set: the stream position is taken *before* the
current state is read, so nothing between "look" and "follow" is missed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, select

from fileintel.config import Settings
from fileintel.db import read_tx
from fileintel.models.tables import status_events_t
from fileintel.outbox.writer import iso


def follow_status_events(
    engine: Engine, collection_id: str, after_seq: int, poll_seconds: float, stop: threading.Event
) -> Iterator[dict[str, Any]]:
    """Yield each new history row of a collection, in seq order, until ``stop`` is set."""
    e = status_events_t.c
    while not stop.is_set():
        with read_tx(engine) as conn:
            rows = conn.execute(
                select(e.seq, e.from_status, e.to_status, e.run_id, e.message, e.actor, e.at)
                .where(e.collection_id == collection_id, e.seq > after_seq)
                .order_by(e.seq)
            ).all()
        for r in rows:
            after_seq = r.seq
            yield {
                "type": "collection.status_changed",
                "seq": r.seq,
                "from": r.from_status,
                "to": r.to_status,
                "run_id": r.run_id,
                "message": r.message,
                "actor": r.actor,
                "at": iso(r.at),
            }
        if not rows:
            stop.wait(poll_seconds)


class StreamFollower:
    """Reads the events stream for one collection from a position taken at creation."""

    def __init__(self, settings: Settings, collection_id: str):
        import redis

        assert settings.events_url is not None
        self.client = redis.Redis.from_url(settings.events_url, decode_responses=True)
        self.stream = settings.events_stream
        self.collection_id = collection_id
        last = self.client.xrevrange(self.stream, count=1)
        self.position = last[0][0] if last else "0-0"

    def events(self, stop: threading.Event, block_ms: int = 500) -> Iterator[dict[str, Any]]:
        """Yield this collection's events (deduplicated by event id) until ``stop``."""
        seen: set[str] = set()
        while not stop.is_set():
            batches = self.client.xread({self.stream: self.position}, block=block_ms, count=500)
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    self.position = entry_id
                    if fields.get("collection_id") != self.collection_id:
                        continue
                    if fields.get("event_id") in seen:
                        continue
                    seen.add(fields.get("event_id", entry_id))
                    yield _decode(fields)


def _decode(fields: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for key, value in fields.items():
        if value.startswith(("{", "[")):
            try:
                event[key] = json.loads(value)
                continue
            except ValueError:
                pass
        event[key] = value if value != "" else None
    if "seq" in event and event["seq"] is not None:
        event["seq"] = int(event["seq"])
    return event
