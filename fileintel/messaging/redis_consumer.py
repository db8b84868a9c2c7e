"""Dramatiq's Redis broker as FileIntel runs it: two changes to how its consumers poll.

Dramatiq's Redis consumer does not block on Redis; it polls. After each message it hands
out, it sleeps 5 ms, then 10, 20, ... up to the worker's timeout, and fetches again when it
wakes, but only while fewer than ``prefetch`` messages of its process are unacknowledged.
Two things follow that cost CPU for nothing, measured in the processing benchmark
(``docs/performance.md``):

- **A full prefetch window is polled anyway.** A busy worker process keeps its window full,
  so its consumer woke about 7 times per document only to find it still full, and each
  wake took the GIL from the pipeline. ``AckDrivenConsumer`` waits instead until a worker
  thread acknowledges (or rejects) a message, which is what frees a slot, or the timeout
  passes; then it goes on as Dramatiq's does. Consumer threads' CPU per document -15-25%.
- **Delay queues are polled as often as the work queues.** Dramatiq gives every consumer
  the worker's timeout (``fileintel worker`` polls idle queues every 100 ms so that new work
  starts at once). A delay queue holds only retries, which wait ``MIN_BACKOFF_MS`` anyway:
  its consumer polls at most every ``DELAY_QUEUE_POLL_MS``.

Both rely on attributes of Dramatiq's ``_RedisConsumer`` (``message_cache``,
``outstanding_message_count``, ``prefetch``, ``timeout``);
``tests/messaging/test_redis_broker.py`` runs them through a real worker and Redis.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import dq_name

#: The longest a delay queue's consumer sleeps between polls (ms).
DELAY_QUEUE_POLL_MS = 1000


class AckDrivenConsumer(_RedisConsumer):
    """A Redis consumer that sleeps through a full prefetch window until a slot frees."""

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int):
        super().__init__(broker, queue_name, prefetch, timeout)
        self.slot_freed = threading.Event()

    def ack(self, message: Any) -> None:
        """Acknowledge (a worker thread calls this), then wake the consumer."""
        try:
            super().ack(message)
        finally:
            self.slot_freed.set()

    def nack(self, message: Any) -> None:
        """Reject (a worker thread calls this), then wake the consumer."""
        try:
            super().nack(message)
        finally:
            self.slot_freed.set()

    def __next__(self) -> Any:
        # Cleared before the window is looked at: an acknowledgement after this line sets
        # it again, so the wait below cannot miss one.
        self.slot_freed.clear()
        if not self.message_cache and self.outstanding_message_count >= self.prefetch:
            self.slot_freed.wait(self.timeout / 1000)
        return super().__next__()


class FileIntelRedisBroker(RedisBroker):
    """Dramatiq's Redis broker with the two polling changes above."""

    @property
    def consumer_class(self) -> type[AckDrivenConsumer]:
        """The consumer that every ``consume`` builds."""
        return AckDrivenConsumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> dramatiq.Consumer:
        """A consumer of ``queue_name``; a delay queue's polls at most every second."""
        if dq_name(queue_name) == queue_name:
            timeout = max(timeout, DELAY_QUEUE_POLL_MS)
        return super().consume(queue_name, prefetch, timeout)
