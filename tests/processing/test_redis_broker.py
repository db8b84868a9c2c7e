"""The Redis broker's consumers: work queues polled at the worker's timeout, delay queues
(retries) at most every second, and a delayed message still runs."""

from __future__ import annotations

import threading
import uuid

import dramatiq
from dramatiq.common import dq_name

from fileintel.messaging import DOCUMENTS_QUEUE
from fileintel.workers.broker import DELAY_QUEUE_POLL_MS, build_broker
from tests.helpers import wait_for

POLL_MS = 100


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
