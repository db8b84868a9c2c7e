"""Building the Dramatiq broker from FILEINTEL_BROKER_URL, with an explicit middleware list.

There is no implicit default broker: every process builds exactly one with ``build_broker``
and hands it to whatever needs it (actor registration, the relay's dispatch publisher).
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from fileintel.config import mask_url
from fileintel.errors import ConfigurationError, DocumentError, NotFound, StateError
from fileintel.messaging import DOCUMENTS_QUEUE, RUNS_QUEUE

MAX_RETRIES = 3
MIN_BACKOFF_MS = 500
MAX_BACKOFF_MS = 30_000
TIME_LIMIT_MS = 15 * 60 * 1000
AGE_LIMIT_MS = 24 * 3600 * 1000
#: A Redis worker process silent this long is dead: its prefetched, unacknowledged messages
#: go back to the queue (Dramatiq's default, 60 s, held a killed worker's unclaimed
#: documents for a minute or more). Every consumer poll is a heartbeat (100 ms to 1 s).
REDIS_HEARTBEAT_TIMEOUT_MS = 10_000
#: Commands per million that run the Redis broker's maintenance (the dead-worker requeue):
#: 1 %, so it runs within a second or two of polling instead of Dramatiq's 0.1 %.
REDIS_MAINTENANCE_CHANCE = 10_000


def should_retry(retries_so_far: int, error: BaseException) -> bool:
    """Retry transient failures only: a bad document or a fenced-off write never improves."""
    if isinstance(error, DocumentError | StateError | NotFound):
        return False
    return retries_so_far < MAX_RETRIES


def middleware_stack() -> list[Middleware]:
    """The middleware every FileIntel broker runs, in order."""
    return [
        AgeLimit(max_age=AGE_LIMIT_MS),
        TimeLimit(time_limit=TIME_LIMIT_MS),
        ShutdownNotifications(),
        CurrentMessage(),
        Retries(
            max_retries=MAX_RETRIES,
            min_backoff=MIN_BACKOFF_MS,
            max_backoff=MAX_BACKOFF_MS,
            retry_when=should_retry,
        ),
    ]


def build_broker(url: str) -> dramatiq.Broker:
    """A broker for ``url`` (redis://, amqp://, stub://) with FileIntel's middleware."""
    scheme = url.split("://", 1)[0]
    middleware = middleware_stack()
    broker: dramatiq.Broker
    if scheme in ("redis", "rediss"):
        from fileintel.messaging.redis_consumer import FileIntelRedisBroker

        broker = FileIntelRedisBroker(
            url=url,
            middleware=middleware,
            namespace="fileintel",
            heartbeat_timeout=REDIS_HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=REDIS_MAINTENANCE_CHANCE,
        )
    elif scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)
    elif scheme == "stub":
        broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
    else:
        raise ConfigurationError(f"FILEINTEL_BROKER_URL: unsupported scheme in {mask_url(url)!r}")
    for queue in (RUNS_QUEUE, DOCUMENTS_QUEUE):
        broker.declare_queue(queue)
    return broker


def message_from_payload(payload: dict[str, Any]) -> dramatiq.Message[Any]:
    """Rebuild the Dramatiq message stored in a dispatch outbox row."""
    return dramatiq.Message(
        queue_name=payload["queue_name"],
        actor_name=payload["actor_name"],
        args=tuple(payload.get("args", ())),
        kwargs=payload.get("kwargs", {}),
        options=payload.get("options", {}),
        message_id=payload["message_id"],
        message_timestamp=payload["message_timestamp"],
    )
