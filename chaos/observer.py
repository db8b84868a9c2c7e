"""Watching the run: an events consumer (invariant O) and each fault's recovery time.

``EventsConsumer`` reads the events stream from its start, as a downstream consumer would,
through every restart of the events Redis, and keeps the first sighting of each event id
in the order seen. ``RecoveryWatch`` snapshots, when a fault starts, the documents it may
hold up (in work, or dispatched and unclaimed under a processing run) and measures, from
the fault's end (restart or heal), how long until each has finished or left its run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import Engine, text

from fileintel.config import DEFAULT_EVENTS_STREAM

log = logging.getLogger("chaos")

#: How often the recovery watches look (the resolution of the recovery times).
WATCH_INTERVAL = 0.5


class EventsConsumer(threading.Thread):
    """Reads ``fileintel:events`` from the beginning until stopped."""

    def __init__(self, url: str):
        super().__init__(name="events-consumer", daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.last_id = "0-0"
        #: event id → (collection id, type, seq or None), first sighting only.
        self.seen: dict[str, tuple[str, str, int | None]] = {}
        self.order: list[str] = []
        self.duplicates = 0

    def run(self) -> None:
        client: redis.Redis | None = None
        while not self.stop.is_set():
            try:
                if client is None:
                    client = redis.Redis.from_url(self.url, socket_timeout=5)
                batch = client.xread({DEFAULT_EVENTS_STREAM: self.last_id}, count=1000, block=500)
            except redis.RedisError:
                client = None
                self.stop.wait(0.2)
                continue
            for _stream, entries in batch or []:
                for entry_id, fields in entries:
                    self.last_id = entry_id.decode()
                    self._take({k.decode(): v.decode() for k, v in fields.items()})

    def _take(self, fields: dict[str, str]) -> None:
        event_id = fields.get("event_id", "")
        if event_id in self.seen:
            self.duplicates += 1
            return
        seq = int(fields["seq"]) if fields.get("seq") else None
        self.seen[event_id] = (fields.get("collection_id", ""), fields.get("type", ""), seq)
        self.order.append(event_id)


@dataclass
class Watch:
    """The documents a fault may hold up, and when they were all through."""

    fault_index: int
    kind: str
    documents: dict[int, str]
    ended: dt.datetime | None = None
    recovered: dt.datetime | None = None
    remaining: set[int] = field(default_factory=set)

    @property
    def seconds(self) -> float | None:
        if self.ended is None or self.recovered is None:
            return None
        return max(0.0, (self.recovered - self.ended).total_seconds())


IN_FLIGHT = text(
    "SELECT d.id, d.run_id FROM documents d JOIN runs r ON r.id = d.run_id "
    "WHERE r.status = 'processing' AND (d.state = 'processing' "
    "OR (d.state = 'pending' AND d.dispatched_at IS NOT NULL))"
)
STILL_HELD = text(
    "SELECT d.id, d.run_id, d.state, r.status AS run_status FROM documents d "
    "LEFT JOIN runs r ON r.id = d.run_id WHERE d.id = ANY(:ids)"
)


class RecoveryWatcher(threading.Thread):
    """Measures every watch until its documents are through."""

    def __init__(self, engine: Engine):
        super().__init__(name="recovery-watcher", daemon=True)
        self.engine = engine
        self.watches: list[Watch] = []
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def snapshot(self, fault_index: int, kind: str) -> Watch:
        """The documents in flight now (taken just before the fault)."""
        documents: dict[int, str] = {}
        try:
            with self.engine.connect() as conn:
                documents = {int(r.id): str(r.run_id) for r in conn.execute(IN_FLIGHT)}
        except Exception as e:  # the database may be the thing that is down
            log.info("no snapshot before fault %d: %s", fault_index, e)
        watch = Watch(fault_index, kind, documents, remaining=set(documents))
        with self._lock:
            self.watches.append(watch)
        return watch

    def run(self) -> None:
        while not self.stop.wait(WATCH_INTERVAL):
            with self._lock:
                open_ = [w for w in self.watches if w.ended is not None and w.recovered is None]
            for watch in open_:
                try:
                    self._look(watch)
                except Exception as e:
                    log.debug("recovery watch: %s", e)
                    self.engine.dispose()

    def _look(self, watch: Watch) -> None:
        if watch.remaining:
            with self.engine.connect() as conn:
                rows = conn.execute(STILL_HELD, {"ids": list(watch.remaining)}).all()
            for row in rows:
                # Superseded, or its run closed (a cancel leaves documents pending).
                moved_on = (
                    row.run_id != watch.documents[int(row.id)] or row.run_status != "processing"
                )
                if moved_on or row.state in ("done", "failed", "skipped"):
                    watch.remaining.discard(int(row.id))
            watch.remaining &= {int(r.id) for r in rows}
        if not watch.remaining:
            watch.recovered = dt.datetime.now(dt.UTC)


def as_rows(watches: list[Watch]) -> list[dict[str, Any]]:
    return [
        {
            "fault": w.fault_index,
            "kind": w.kind,
            "documents": len(w.documents),
            "seconds": w.seconds,
        }
        for w in watches
    ]


def wait_caught_up(consumer: EventsConsumer, expected: set[str], timeout: float) -> bool:
    """Wait until the consumer has seen every id in ``expected``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if expected <= consumer.seen.keys():
            return True
        time.sleep(0.5)
    return expected <= consumer.seen.keys()
