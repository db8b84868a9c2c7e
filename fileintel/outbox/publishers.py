"""Where outbox rows go: events to a Redis Stream (or nowhere), dispatches to the broker.

A publisher returns the rows that failed on their own (a poison row) and raises
``SinkUnavailable`` when the whole sink is down, so an outage backs off without burning
every row's attempts.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import dramatiq

from fileintel.config import Settings
from fileintel.workers.broker import message_from_payload


class SinkUnavailable(Exception):
    """Raised when the sink itself cannot be reached: nothing of the batch was published."""


class Publisher(Protocol):
    """Publishes a batch; returns {row id: error} for rows that failed on their own."""

    def publish(self, rows: list[Any]) -> dict[int, str]:
        """Publish ``rows``; raise SinkUnavailable when nothing can be published."""
        ...


class NullEventSink:
    """No events URL: events stay readable in ``status_events``; rows are marked published."""

    def publish(self, rows: list[Any]) -> dict[int, str]:
        """Accept everything."""
        return {}


def stream_fields(payload: dict[str, Any]) -> dict[str, str]:
    """A payload as Redis Stream fields: scalars as text, None as "", nested as JSON."""
    fields: dict[str, str] = {}
    for key, value in payload.items():
        if value is None:
            fields[key] = ""
        elif isinstance(value, dict | list):
            fields[key] = json.dumps(value, separators=(",", ":"))
        else:
            fields[key] = str(value)
    return fields


class RedisStreamSink:
    """XADD each event to the stream, one pipelined round trip per batch."""

    def __init__(self, settings: Settings):
        import redis

        assert settings.events_url is not None
        self.client = redis.Redis.from_url(
            settings.events_url, socket_timeout=5, socket_connect_timeout=3
        )
        self.stream = settings.events_stream
        self.maxlen = settings.events_maxlen

    def publish(self, rows: list[Any]) -> dict[int, str]:
        """Pipelined XADD with approximate MAXLEN."""
        import redis

        if not rows:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(self.stream, stream_fields(row.payload), maxlen=self.maxlen, approximate=True)
        try:
            results = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise SinkUnavailable(f"events sink unreachable: {e}") from e
        failed = {}
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, Exception):
                if isinstance(result, redis.ConnectionError | redis.TimeoutError):
                    raise SinkUnavailable(f"events sink unreachable: {result}")
                failed[row.id] = f"{type(result).__name__}: {result}"
        return failed


def _broker_down_errors() -> tuple[type[BaseException], ...]:
    import pika.exceptions
    import redis

    return (
        dramatiq.errors.BrokerConnectionError,
        OSError,
        redis.RedisError,
        pika.exceptions.AMQPError,
    )


_BROKER_DOWN = _broker_down_errors()


class BrokerDispatcher:
    """Enqueue the Dramatiq message stored in each dispatch row."""

    def __init__(self, broker: dramatiq.Broker):
        self.broker = broker

    def publish(self, rows: list[Any]) -> dict[int, str]:
        """Enqueue each message, honouring a stored eta."""
        failed = {}
        for row in rows:
            try:
                message = message_from_payload(row.payload)
            except (KeyError, TypeError, ValueError) as e:
                failed[row.id] = f"malformed dispatch payload: {type(e).__name__}: {e}"
                continue
            eta = message.options.pop("eta", None)
            delay = int(eta - time.time() * 1000) if eta else 0
            try:
                self.broker.enqueue(message, delay=delay if delay > 0 else None)
            except dramatiq.errors.QueueNotFound as e:
                failed[row.id] = f"unknown queue: {e}"
            except _BROKER_DOWN as e:
                raise SinkUnavailable(f"broker unreachable: {e}") from e
        return failed
