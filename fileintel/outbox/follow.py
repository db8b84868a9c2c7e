"""Following a collection's events as they happen (``collections watch``, ``--wait``).

Two sources:

- the database: new ``status_events`` rows (seq above the last one seen), polled. It is the
  record, so it works without a relay or an events sink.
- the Redis Stream, when FILEINTEL_EVENTS_URL is set: status changes and per-document
  progress, as soon as the relay publishes them. ``StreamFollower`` takes its stream
  position when it is created, so a caller creates it *before* reading the collection's
  current state: whatever changes after that look is in the stream after that position.
  When the stream stays quiet (no relay running, say), ``follow_collection`` reads the
  missing status changes from the database instead, so a follower never hangs on a
  collection that has in fact finished.

Events are dicts shaped like the stream entries (``type``, ``seq``, ``from``, ``to``, ...).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from fileintel.config import Settings
from fileintel.db import read_tx
from fileintel.errors import BrokerError
from fileintel.models.events import STATUS_CHANGED
from fileintel.store.status import history_after

log = logging.getLogger("fileintel.follow")

#: Without stream traffic for this long, status changes are read from the database.
STREAM_QUIET_SECONDS = 2.0
_INT_FIELDS = ("seq", "document_id", "chunks", "attempt")


def status_events_after(engine: Engine, collection_id: str, after_seq: int) -> list[dict[str, Any]]:
    """The collection's history rows with seq above ``after_seq``, as events, in seq order."""
    with read_tx(engine) as conn:
        rows = history_after(conn, collection_id, after_seq)
    return [{"type": STATUS_CHANGED, "collection_id": collection_id, **row} for row in rows]


def follow_status_events(
    engine: Engine, collection_id: str, after_seq: int, poll_seconds: float, stop: threading.Event
) -> Iterator[dict[str, Any]]:
    """Yield each new history row of a collection, in seq order, until ``stop`` is set."""
    while not stop.is_set():
        events = status_events_after(engine, collection_id, after_seq)
        for event in events:
            after_seq = event["seq"]
            yield event
        if not events:
            stop.wait(poll_seconds)


class StreamFollower:
    """Reads one collection's events from the stream, from the position at creation."""

    def __init__(self, settings: Settings, collection_id: str):
        import redis

        if settings.events_url is None:
            raise ValueError("StreamFollower needs settings.events_url")
        self.client = redis.Redis.from_url(
            settings.events_url, decode_responses=True, socket_connect_timeout=3
        )
        self.stream = settings.events_stream
        self.collection_id = collection_id
        self._seen: set[str] = set()
        try:
            last = self.client.xrevrange(self.stream, count=1)
        except redis.RedisError as e:
            raise BrokerError(f"FILEINTEL_EVENTS_URL: cannot read the events stream: {e}") from e
        self.position: str = last[0][0] if last else "0-0"

    def read(self, block_ms: int = 500) -> list[dict[str, Any]]:
        """The collection's next events (each event id once); [] after ``block_ms`` of quiet."""
        import redis

        try:
            batches = self.client.xread({self.stream: self.position}, block=block_ms, count=500)
        except redis.RedisError as e:
            raise BrokerError(f"reading the events stream failed: {e}") from e
        events = []
        for _, entries in batches or []:
            for entry_id, fields in entries:
                self.position = entry_id
                if fields.get("collection_id") != self.collection_id:
                    continue
                event_id = fields.get("event_id") or entry_id
                if event_id in self._seen:
                    continue
                self._seen.add(event_id)
                events.append(decode_entry(fields))
        return events

    def close(self) -> None:
        """Close the connection."""
        self.client.close()


def follow_collection(
    engine: Engine,
    collection_id: str,
    after_seq: int,
    stop: threading.Event,
    *,
    stream: StreamFollower | None = None,
    poll_seconds: float = 0.25,
    quiet_seconds: float = STREAM_QUIET_SECONDS,
) -> Iterator[dict[str, Any]]:
    """Yield the collection's events after ``after_seq``: from ``stream`` when given, with
    the database as the fallback for status changes (and the only source once the stream
    fails); status changes come once each, in seq order.
    """
    quiet_since = time.monotonic()
    while not stop.is_set():
        if stream is None:
            yield from follow_status_events(engine, collection_id, after_seq, poll_seconds, stop)
            return
        try:
            events = stream.read(block_ms=int(poll_seconds * 1000))
        except BrokerError as e:
            log.warning("%s; following the database instead", e)
            stream = None
            continue
        if not events and time.monotonic() - quiet_since >= quiet_seconds:
            events = status_events_after(engine, collection_id, after_seq)
            quiet_since = time.monotonic()
        elif events:
            quiet_since = time.monotonic()
        for event in events:
            seq = event.get("seq")
            if event.get("type") == STATUS_CHANGED and isinstance(seq, int):
                if seq <= after_seq:
                    continue
                after_seq = seq
            yield event


def decode_entry(fields: dict[str, str]) -> dict[str, Any]:
    """A stream entry back as an event: "" → None, counters as ints, objects as dicts."""
    event: dict[str, Any] = {}
    for key, value in fields.items():
        if value == "":
            event[key] = None
        elif value.startswith("{"):
            try:
                event[key] = json.loads(value)
            except ValueError:
                event[key] = value
        else:
            event[key] = value
    for key in _INT_FIELDS:
        text = event.get(key)
        if isinstance(text, str) and text.lstrip("-").isdigit():
            event[key] = int(text)
    return event
