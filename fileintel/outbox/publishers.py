"""Where outbox rows go: events to a Redis Stream (or nowhere), dispatches to the broker.

A publisher takes a batch of claimed rows (each with ``id``, ``key`` and ``payload``, in id
order) and returns an ``Outcome``:

- ``failed``: rows that failed on their own (a poison row). The relay counts an attempt on
  each and backs it off; after the last attempt it is parked.
- ``held``: rows not sent because an earlier row of their key failed in the same batch, so
  the key's order is kept; they stay due and wait behind the failed row.

When the sink itself is unreachable the publisher raises ``SinkUnavailable`` instead,
naming the rows that did get through before it went away: the relay counts no attempt on
the others and only waits before trying that sink again, so an outage of any length never
parks the backlog.

Error texts are stored on outbox rows and shown by ``outbox status`` long after the
process that wrote them: they pass through ``redact`` before they are kept or raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import dramatiq

from fileintel.config import Settings, redact
from fileintel.errors import BrokerError
from fileintel.messaging.broker import message_from_payload


class SinkUnavailable(BrokerError):
    """Raised when a sink cannot be reached; ``done`` lists the rows it took before that."""

    def __init__(self, message: str, done: Sequence[int] = ()):
        super().__init__(message)
        self.done = list(done)


@dataclass
class Outcome:
    """What a publisher did not publish: failed rows (id → error) and rows it held back."""

    failed: dict[int, str] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    failed_keys: set[str] = field(default_factory=set, repr=False)

    def fail(self, row: Any, error: str) -> None:
        """Record a row that failed on its own; later rows of its key will be held back."""
        self.failed[row.id] = error
        self.failed_keys.add(row.key)

    def holds(self, row: Any) -> bool:
        """True (and the row is recorded as held) when an earlier row of its key failed."""
        if row.key in self.failed_keys:
            self.held.add(row.id)
            return True
        return False


class Publisher(Protocol):
    """Publishes a batch of rows in id order; says which rows did not go.

    A publisher may set ``lazy = True`` when publishing changes nothing outside the
    database (``NullEventSink``): the relay then does not wake up for its rows alone.
    """

    def publish(self, rows: Sequence[Any]) -> Outcome:
        """Publish ``rows``; raise SinkUnavailable when the sink is down."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class NullEventSink:
    """No events URL: events stay readable in ``status_events``; rows are marked published.

    ``lazy``: publishing one of its rows changes nothing outside the database, so a relay
    does not wake up for them (a NOTIFY about event rows only); its next poll, or a
    dispatch, marks them in a batch.
    """

    lazy = True

    def publish(self, rows: Sequence[Any]) -> Outcome:
        """Accept everything."""
        return Outcome()

    def close(self) -> None:
        """Nothing to release."""


def stream_fields(payload: dict[str, Any]) -> dict[str, str]:
    """A payload as Redis Stream fields: scalars as text, None as "", nested values as JSON."""
    fields: dict[str, str] = {}
    for key, value in payload.items():
        if value is None:
            fields[key] = ""
        elif isinstance(value, str):
            fields[key] = value
        elif isinstance(value, bool):
            fields[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            fields[key] = json.dumps(value, separators=(",", ":"))
        else:
            fields[key] = str(value)
    return fields


class RedisStreamSink:
    """XADD each event to the stream (approximate MAXLEN), one pipelined round trip a batch."""

    def __init__(self, settings: Settings):
        import redis

        if settings.events_url is None:
            raise ValueError("RedisStreamSink needs settings.events_url")
        self.client = redis.Redis.from_url(
            settings.events_url, socket_timeout=5, socket_connect_timeout=3
        )
        self.stream = settings.events_stream
        self.maxlen = settings.events_maxlen
        self.secrets = settings.secrets

    def publish(self, rows: Sequence[Any]) -> Outcome:
        """Pipelined XADD of every row's payload; per-row errors are returned, not raised.

        A row the client refuses (not a non-empty object) is found before anything is sent,
        so the rest of its key is held back. An error the server returns for one entry is
        reported for that entry only, as the later entries of its key were already added.
        """
        import redis

        outcome = Outcome()
        sent: list[Any] = []
        pipe = self.client.pipeline(transaction=False)
        for row in rows:
            if outcome.holds(row):
                continue
            try:
                if not isinstance(row.payload, dict) or not row.payload:
                    raise ValueError("an event payload must be a non-empty JSON object")
                pipe.xadd(
                    self.stream, stream_fields(row.payload), maxlen=self.maxlen, approximate=True
                )
            except (redis.DataError, ValueError, TypeError) as e:
                outcome.fail(row, redact(f"unpublishable event: {e}", self.secrets))
                continue
            sent.append(row)
        if not sent:
            return outcome
        try:
            results = pipe.execute(raise_on_error=False)
        except _SINK_DOWN as e:
            raise SinkUnavailable(redact(f"events sink unreachable: {e}", self.secrets)) from e
        for row, result in zip(sent, results, strict=True):
            if isinstance(result, _SINK_DOWN):
                message = redact(f"events sink unavailable: {result}", self.secrets)
                raise SinkUnavailable(message) from result
            if isinstance(result, Exception):
                outcome.fail(row, redact(f"events sink rejected the event: {result}", self.secrets))
        return outcome

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def _redis_down_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)


def _broker_down_errors() -> tuple[type[BaseException], ...]:
    import pika.exceptions

    return (
        *_redis_down_errors(),
        dramatiq.errors.BrokerConnectionError,
        pika.exceptions.AMQPConnectionError,
        pika.exceptions.AMQPChannelError,
        OSError,
    )


_SINK_DOWN = _redis_down_errors()
_BROKER_DOWN = _broker_down_errors()


class BrokerDispatcher:
    """Enqueue the Dramatiq message stored in each dispatch row, honouring a stored eta."""

    def __init__(self, broker: dramatiq.Broker, secrets: Collection[str] = frozenset()):
        self.broker = broker
        self.secrets = secrets

    def publish(self, rows: Sequence[Any]) -> Outcome:
        """Enqueue each row's message; a stored ``options.eta`` becomes the remaining delay."""
        outcome = Outcome()
        done: list[int] = []
        for row in rows:
            if outcome.holds(row):
                continue
            try:
                message, delay_ms = prepare_message(row.payload)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                error = f"malformed dispatch payload: {type(e).__name__}: {e}"
                outcome.fail(row, redact(error, self.secrets))
                continue
            try:
                self.broker.enqueue(message, delay=delay_ms)
            except _BROKER_DOWN as e:
                raise SinkUnavailable(redact(f"broker unreachable: {e}", self.secrets), done) from e
            except (dramatiq.errors.BrokerError, ValueError) as e:
                error = f"broker refused the message: {type(e).__name__}: {e}"
                outcome.fail(row, redact(error, self.secrets))
                continue
            done.append(row.id)
        return outcome

    def close(self) -> None:
        """The broker belongs to whoever built it: nothing to release here."""


def prepare_message(
    payload: dict[str, Any], now_ms: float | None = None
) -> tuple[dramatiq.Message[Any], int | None]:
    """The stored message without its eta, and the delay (ms) left until it, if any."""
    options = dict(payload.get("options") or {})
    eta = options.pop("eta", None)
    message = message_from_payload({**payload, "options": options})
    if eta is None:
        return message, None
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    remaining = int(float(eta) - now_ms)
    return message, remaining if remaining > 0 else None
