"""How an embedded worker process gets its messages: it takes dispatch rows from the outbox.

The outbox is the embedded mode's queue. Each worker process runs a relay that claims only
dispatch rows, only as many as it has room for (``capacity``: two per thread), and enqueues
them on its own in-process broker, which its worker threads consume. It refills once half
of them are done, so one write transaction takes several rows. A row is marked published in
the transaction that claims it, so at most ``capacity`` messages ever live in a process's
memory; if the process dies they are what ``sweeper.orphans`` recovers.

``InFlight`` counts the messages of this process's broker that are not finished yet (by
message id, so a retry's re-enqueue of the same message is not counted twice); a finished
message wakes the feed at once, so a thread that frees up is fed without waiting for a poll.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from sqlalchemy import Engine

from fileintel.db import on_outbox_commit, read_tx
from fileintel.models.tables import OUTBOX_DISPATCH
from fileintel.outbox.publishers import BrokerDispatcher, NullEventSink
from fileintel.outbox.queries import has_due
from fileintel.outbox.relay import Relay

log = logging.getLogger("fileintel.worker")

#: How often an idle worker process looks at the outbox (a read, no write lock). Commits of
#: this process wake it at once; another process's dispatches are seen within this time.
FEED_POLL_SECONDS = 0.05


class InFlight(Middleware):
    """Counts this broker's unfinished messages and wakes the feed when one finishes."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.changed = threading.Condition()

    def count(self) -> int:
        """Messages enqueued and not finished."""
        with self.changed:
            return len(self.ids)

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
        """A message entered this process."""
        with self.changed:
            self.ids.add(message.message_id)

    def _done(self, message: Any) -> None:
        with self.changed:
            self.ids.discard(message.message_id)
            self.changed.notify_all()

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        """A message finished (a retry enqueues it again afterwards)."""
        self._done(message)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """A message was skipped (too old)."""
        self._done(message)

    def wake(self) -> None:
        """Make a waiting feed look now."""
        with self.changed:
            self.changed.notify_all()


class DispatchFeed:
    """Claims dispatch rows for this process while it has room, until ``stop``."""

    def __init__(self, engine: Engine, broker: dramatiq.Broker, in_flight: InFlight, capacity: int):
        self.engine = engine
        self.in_flight = in_flight
        self.capacity = capacity
        self.relay = Relay(
            engine,
            NullEventSink(),
            BrokerDispatcher(broker),
            batch_size=capacity,
            kinds=(OUTBOX_DISPATCH,),
        )

    def run(self, stop: threading.Event) -> None:
        """Take rows whenever there is room and something is due; wait otherwise."""
        remove = on_outbox_commit(self.engine, self.in_flight.wake)
        try:
            while not stop.is_set():
                try:
                    self._pass(stop)
                except Exception:
                    log.exception("taking messages from the outbox failed; trying again")
                    stop.wait(FEED_POLL_SECONDS * 10)
        finally:
            remove()

    def _pass(self, stop: threading.Event) -> None:
        room = self.capacity - self.in_flight.count()
        if room < max(1, self.capacity // 2):
            self._wait(stop)
            return
        with read_tx(self.engine) as conn:
            due = has_due(conn, OUTBOX_DISPATCH)
        if not due:
            self._wait(stop)
            return
        self.relay.batch_size = room
        if self.relay.run_once().published == 0:
            self._wait(stop)

    def _wait(self, stop: threading.Event) -> None:
        with self.in_flight.changed:
            if not stop.is_set():
                self.in_flight.changed.wait(FEED_POLL_SECONDS)
