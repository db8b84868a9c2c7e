"""Helpers of the outbox suite.

- ``add_events(engine, key, n)``: ``n`` committed event rows of one key, one transaction.
- ``outbox_rows(engine)``: every outbox row, in id order.
- ``stream_entries(url, stream)``: the whole Redis Stream as decoded field dicts.
- ``busy_collection(engine, name)`` / ``cycle(engine, cid, moves)``: a collection created
  and moved through the real transition function (queued → processing → completed → …).
- ``RejectingSink``: an events sink that refuses chosen event ids (a poison event).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select

from fileintel.config import Settings
from fileintel.db import read_tx, write_tx
from fileintel.models.events import new_event_id
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import outbox_t
from fileintel.outbox.publishers import Outcome
from fileintel.outbox.relay import Relay
from fileintel.store.outbox_rows import add_event
from fileintel.store.transitions import record_creation, transition

#: One full cycle of a collection through the transition function.
CYCLE = (CollectionStatus.QUEUED, CollectionStatus.PROCESSING, CollectionStatus.COMPLETED)


def add_events(engine: Engine, key: str, n: int, topic: str = "test.event") -> list[str]:
    """Commit ``n`` event rows with key ``key``; return their event ids in order."""
    ids = [new_event_id() for _ in range(n)]
    with write_tx(engine) as conn:
        for i, event_id in enumerate(ids):
            add_event(
                conn,
                topic,
                key,
                {"event_id": event_id, "type": topic, "collection_id": key, "n": i},
            )
    return ids


def outbox_rows(engine: Engine) -> list[Any]:
    """Every outbox row, in id order."""
    with read_tx(engine) as conn:
        return list(conn.execute(select(outbox_t).order_by(outbox_t.c.id)))


def unpublished(engine: Engine) -> int:
    """Rows neither published nor parked."""
    return sum(1 for r in outbox_rows(engine) if r.published_at is None and r.parked_at is None)


def stream_entries(url: str, stream: str) -> list[dict[str, str]]:
    """Every entry of the stream, oldest first, as str → str dicts."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [fields for _, fields in client.xrange(stream)]
    finally:
        client.close()


def busy_collection(engine: Engine, name: str) -> str:
    """Create a collection (null → created) through the real transition module."""
    collection_id = str(uuid.uuid4())
    with write_tx(engine) as conn:
        record_creation(conn, collection_id=collection_id, name=name, description=None, actor="t")
    return collection_id


def cycle(engine: Engine, collection_id: str, moves: int) -> None:
    """Make ``moves`` status changes, one transaction each, cycling through ``CYCLE``."""
    for i in range(moves):
        target = CYCLE[i % len(CYCLE)]
        with write_tx(engine) as conn:
            if target is CollectionStatus.QUEUED:
                transition(conn, collection_id, target, actor="t", new_run_id=str(uuid.uuid4()))
            else:
                transition(conn, collection_id, target, actor="t")


class RecordingSink:
    """Accepts and records every event, as a real events sink would (not lazy)."""

    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, rows: Sequence[Any]) -> Outcome:
        """Record every row's event id."""
        self.published += [row.payload["event_id"] for row in rows]
        return Outcome()

    def close(self) -> None:
        """Nothing to release."""


class RejectingSink:
    """Accepts every event except the ones whose event id is in ``reject``."""

    def __init__(self, reject: set[str]):
        self.reject = reject
        self.published: list[str] = []

    def publish(self, rows: Sequence[Any]) -> Outcome:
        """Refuse the chosen events (holding their keys back); record the others."""
        outcome = Outcome()
        for row in rows:
            if outcome.holds(row):
                continue
            if row.payload["event_id"] in self.reject:
                outcome.fail(row, "rejected by the test sink")
            else:
                self.published.append(row.payload["event_id"])
        return outcome

    def close(self) -> None:
        """Nothing to release."""


def settings_for(db_url: str, **changes: Any) -> Settings:
    """Settings on ``db_url`` with the given fields changed."""
    return Settings(database_url=db_url).with_overrides(**changes)


@contextmanager
def running(relay: Relay) -> Iterator[None]:
    """``relay.run_forever`` in a thread for the block; it must stop when asked."""
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        relay.wake()
        thread.join(5)
    assert not thread.is_alive(), "the relay did not stop when asked"
