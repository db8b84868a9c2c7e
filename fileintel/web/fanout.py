"""One reader of the outbox per server process; each pass's events go to every client.

The reader is a thread: it follows the outbox by position (``store.event_tail``), wakes on
PostgreSQL's NOTIFY (the relay's ``Wakeup``) or polls, and hands each pass's events to the
subscribers' asyncio queues. However many clients are connected, the database sees one
reader. A subscriber's start position is taken under the lock that publishing holds, so
it receives exactly the events above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from fileintel.db import read_tx
from fileintel.outbox.wakeup import Wakeup
from fileintel.store.event_tail import OutboxTail, PositionedEvent
from fileintel.web.frames import Frame, frame_of

log = logging.getLogger("fileintel.web.fanout")

#: How often the reader looks without a notification (SQLite has none).
POLL_SECONDS = 0.25
#: How soon it looks again while a missing id holds it back (PostgreSQL).
GAP_RETRY_SECONDS = 0.05
#: Passes a client may fall behind before it is dropped (it reconnects and catches up).
QUEUE_PASSES = 1000
#: Pause after a failed pass (database down) before the next.
ERROR_BACKOFF_SECONDS = 1.0

Batch = list[Frame]


@dataclass(eq=False)
class Subscription:
    """One client: its queue of event batches (None: the stream ends) and its filter."""

    loop: asyncio.AbstractEventLoop
    collection_id: str | None
    start: int
    queue: asyncio.Queue[Batch | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_PASSES))

    def offer(self, batch: Batch | None) -> None:
        """Queue a batch (in the event loop's thread); end the stream when it is full."""
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class EventFanout:
    """The process's outbox reader and its subscribers."""

    def __init__(self, engine: Engine, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        #: Reader passes so far (each one read transaction): one reader, however many clients.
        self.passes = 0
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wakeup: Wakeup | None = None
        with read_tx(engine) as conn:
            self._tail = OutboxTail.at_end(conn)
        self.position = self._tail.position

    def start(self) -> None:
        """Start the reader thread."""
        self._wakeup = Wakeup(self.engine)
        self._thread = threading.Thread(target=self._run, name="fileintel-web-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader and end every client's stream."""
        self._stop.set()
        if self._wakeup is not None:
            self._wakeup.wake()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            for sub in self._subscribers:
                sub.loop.call_soon_threadsafe(sub.offer, None)
            self._subscribers.clear()

    def subscribe(self, collection_id: str | None) -> Subscription:
        """A client's subscription, starting after the current position (in its loop)."""
        with self._lock:
            sub = Subscription(asyncio.get_running_loop(), collection_id, self.position)
            self._subscribers.add(sub)
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a client (its stream ended)."""
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def clients(self) -> int:
        """How many clients are subscribed."""
        with self._lock:
            return len(self._subscribers)

    def _run(self) -> None:
        assert self._wakeup is not None
        while not self._stop.is_set():
            try:
                with read_tx(self.engine) as conn:
                    events = self._tail.read(conn)
                self.passes += 1
                self._publish(events)
            except Exception as e:  # the database is down: log, carry on
                log.warning("reading events failed, retrying: %s", e)
                self._stop.wait(ERROR_BACKOFF_SECONDS)
                continue
            if self._tail.waiting:
                self._stop.wait(GAP_RETRY_SECONDS)
            elif not events:
                self._wakeup.wait(self.poll_seconds, self._stop)

    def _publish(self, events: list[PositionedEvent]) -> None:
        # Each event is encoded once, whatever the number of clients.
        frames = [frame_of(e) for e in events]
        with self._lock:
            self.position = self._tail.position
            if not frames:
                return
            for sub in self._subscribers:
                wanted = sub.collection_id
                mine = frames if wanted is None else [f for f in frames if f.collection == wanted]
                if mine:
                    sub.loop.call_soon_threadsafe(sub.offer, mine)
