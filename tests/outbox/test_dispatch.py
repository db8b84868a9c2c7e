"""Dispatch rows reach the broker exactly when their transaction committed.

Each test sends to a queue of its own, so workers or tests sharing the broker neither take
nor see its messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import dramatiq
import pytest
from sqlalchemy import Engine

from fileintel.db import write_tx
from fileintel.messaging.broker import build_broker
from fileintel.outbox.publishers import BrokerDispatcher, NullEventSink, prepare_message
from fileintel.outbox.relay import Relay
from fileintel.store.outbox_rows import add_dispatch, dispatch_message

QueueLength = Callable[[str], int]


class Rollback(Exception):
    """Raised to roll a transaction back."""


def dispatch(engine: Engine, queue: str, commit: bool) -> None:
    """Write one dispatch row to ``queue``; roll the transaction back unless ``commit``."""
    try:
        with write_tx(engine) as conn:
            add_dispatch(conn, queue_name=queue, actor_name="start_run", args=["run"])
            if not commit:
                raise Rollback
    except Rollback:
        pass


@pytest.fixture(params=["stub", "redis", "rabbitmq"])
def broker_and_length(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[dramatiq.Broker, str, QueueLength]]:
    queue = f"fileintel-test-{uuid.uuid4().hex[:8]}"
    if request.param == "stub":
        broker = build_broker("stub://")
        broker.declare_queue(queue)
        yield broker, queue, lambda q: broker.queues[q].qsize()
        return
    if request.param == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        broker = build_broker(url)
        client = redis.Redis.from_url(url)
        try:
            yield broker, queue, lambda q: int(client.llen(f"fileintel:{q}"))
        finally:
            for key in client.scan_iter(f"fileintel:{queue}*"):
                client.delete(key)
            client.close()
            broker.close()
        return
    url = request.getfixturevalue("rabbitmq_url")
    broker = build_broker(url)
    try:
        yield broker, queue, lambda q: int(broker.get_queue_message_counts(q)[0])  # type: ignore[attr-defined]
    finally:
        channel = broker.channel  # type: ignore[attr-defined]
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(name)
        broker.close()


def test_a_committed_dispatch_is_one_message_and_a_rolled_back_one_none(
    engine: Engine, broker_and_length: tuple[dramatiq.Broker, str, QueueLength]
) -> None:
    broker, queue, length = broker_and_length
    relay = Relay(engine, NullEventSink(), BrokerDispatcher(broker))
    dispatch(engine, queue, commit=False)
    dispatch(engine, queue, commit=True)

    assert relay.run_once().published == 1
    assert relay.run_once().claimed == 0
    assert length(queue) == 1


def test_the_remaining_delay_of_a_stored_eta() -> None:
    message = dispatch_message("q", "a", delay_seconds=10)
    rebuilt, delay = prepare_message(message, now_ms=message["options"]["eta"] - 4_000)
    assert delay == 4_000 and "eta" not in rebuilt.options
    assert prepare_message(message, now_ms=message["options"]["eta"] + 1)[1] is None
    assert rebuilt.message_id == message["message_id"]
