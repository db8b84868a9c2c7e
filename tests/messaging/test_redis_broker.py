"""The Redis broker's consumers: work queues polled at the worker's timeout, delay queues
(retries) at most every second, and a delayed message still runs."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import dramatiq
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import dq_name

from fileintel.commands.processing import POLL_MS
from fileintel.messaging import DOCUMENTS_QUEUE
from fileintel.messaging.broker import build_broker
from fileintel.messaging.redis_consumer import (
    DELAY_QUEUE_POLL_MS,
    AckDrivenConsumer,
    FileIntelRedisBroker,
)
from tests.helpers import wait_for


def test_delay_queues_are_polled_less_often_than_work_queues(redis_url: str) -> None:
    broker = build_broker(redis_url)
    try:
        work = broker.consume(DOCUMENTS_QUEUE, 1, POLL_MS)
        delayed = broker.consume(dq_name(DOCUMENTS_QUEUE), 1, POLL_MS)
        assert work.timeout == POLL_MS  # type: ignore[attr-defined]
        assert delayed.timeout == DELAY_QUEUE_POLL_MS  # type: ignore[attr-defined]
        assert broker.consume(dq_name(DOCUMENTS_QUEUE), 1, 5000).timeout == 5000  # type: ignore[attr-defined]
    finally:
        broker.close()


def test_a_delayed_message_runs_through_the_slower_delay_queue(redis_url: str) -> None:
    broker = build_broker(redis_url)
    queue = f"fileintel-test-{uuid.uuid4().hex[:8]}"
    ran = threading.Event()

    def record() -> None:
        ran.set()

    actor = dramatiq.actor(broker=broker, queue_name=queue, actor_name=f"record_{queue}")(record)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=POLL_MS)
    worker.start()
    try:
        actor.send_with_options(delay=50)
        wait_for(ran.is_set, 10, "the delayed message to run")
    finally:
        worker.stop()
        broker.flush(queue)
        broker.flush(dq_name(queue))
        broker.close()


def _iterations_while_processing(redis_url: str, consumer: type[Any]) -> int:
    """Run 4 messages of 100 ms each through a worker of one thread, a prefetch window of
    one and a 1 s poll timeout; return how often the work queue's consumer was asked for a
    message until the last one was done."""
    asked = [0]
    queue = f"fileintel-test-{uuid.uuid4().hex[:8]}"

    class Counting(consumer):
        def __next__(self) -> Any:
            if self.queue_name == queue:  # not its delay queue
                asked[0] += 1
            return super().__next__()

    class Broker(FileIntelRedisBroker):
        @property
        def consumer_class(self) -> Any:
            return Counting

    broker = Broker(url=redis_url, namespace="fileintel")
    done: list[int] = []
    work = threading.Event()

    asked_when_done: list[int] = []

    def handle(n: int) -> None:
        work.wait(0.1)  # the document's work: 100 ms
        done.append(n)
        if len(done) == 4:
            asked_when_done.append(asked[0])

    actor = dramatiq.actor(broker=broker, queue_name=queue, actor_name=f"handle_{queue}")(handle)
    for n in range(4):
        actor.send(n)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=1000)
    worker.queue_prefetch = 1
    worker.start()
    try:
        wait_for(lambda: asked_when_done, 20, "the four messages to run")
        return asked_when_done[0]
    finally:
        worker.stop()
        broker.flush(queue)
        broker.flush(dq_name(queue))
        broker.close()


def test_a_full_prefetch_window_waits_for_an_acknowledgement_instead_of_polling(
    redis_url: str,
) -> None:
    polling = _iterations_while_processing(redis_url, _RedisConsumer)
    ours = _iterations_while_processing(redis_url, AckDrivenConsumer)
    # Dramatiq's consumer wakes at 5, 15, 35, 75 ms ... of every 100 ms message to look at
    # its full window; ours wakes when the message is acknowledged, and fetches the next.
    assert polling >= 4 * 4
    assert ours <= 4 + 2
