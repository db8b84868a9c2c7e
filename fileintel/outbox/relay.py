"""The relay: publishes committed outbox rows, at least once, in order per collection.

Claim by state, never by a cursor: each pass takes the due, unpublished rows in id order
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several relays share the work), publishes
them, and marks them published in the same transaction. A row committed late, after higher
ids were already published (the "ordering gap"), is still unpublished, so the next pass
takes it: nothing committed is left behind.

Why a collection's events leave in ``seq`` order: the transaction that writes a status
change (or a document's progress) locks the collection row before it inserts its outbox
row, so for one collection, ids are allocated in commit order. The claim keeps only each
key's oldest unpublished rows (``queries.claim_batch``), so two relays never publish one
collection's events out of order, and a row in backoff holds its key's later rows back. A
parked row (failed ``max_attempts`` times) no longer holds anything back; it stays visible
in ``outbox status`` until ``outbox retry-parked``.

A crash between publishing and committing republishes the batch on restart: consumers
dedupe by ``event_id``; actors are idempotent.
"""

from __future__ import annotations

import logging
import os
import select as select_module
import threading
from dataclasses import dataclass
from typing import Any

import dramatiq
from sqlalchemy import Engine, select

from fileintel.config import Settings
from fileintel.db import db_now, write_tx
from fileintel.outbox import queries
from fileintel.outbox.publishers import (
    BrokerDispatcher,
    NullEventSink,
    Publisher,
    RedisStreamSink,
    SinkUnavailable,
)
from fileintel.outbox.writer import DISPATCH, EVENT

log = logging.getLogger("fileintel.relay")

DEFAULT_BATCH_SIZE = 500
#: When a whole sink is down, its rows wait this long before the next try.
OUTAGE_BACKOFF_SECONDS = 2.0
PURGE_EVERY_PASSES = 1_000
NOTIFY_CHANNEL = "fileintel_outbox"
#: Fault injection for tests: exit right after publishing, before marking published.
CRASH_AFTER_PUBLISH_ENV = "FILEINTEL_RELAY_CRASH_AFTER_PUBLISH"


@dataclass(frozen=True)
class RelayResult:
    """What one pass did."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    parked: int = 0
    deferred: int = 0
    lag_seconds: float = 0.0


class Relay:
    """One relay; ``run_once`` is a pass, ``run_forever`` the daemon loop."""

    def __init__(
        self,
        engine: Engine,
        events: Publisher,
        dispatches: Publisher,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_seconds: float = 1.0,
        max_attempts: int = queries.DEFAULT_MAX_ATTEMPTS,
        retention_seconds: float | None = None,
    ):
        self.engine = engine
        self.publishers = {EVENT: events, DISPATCH: dispatches}
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.retention_seconds = retention_seconds

    def run_once(self) -> RelayResult:
        """Claim a batch, publish it, mark it; all in one transaction."""
        with write_tx(self.engine) as conn:
            rows = queries.claim_batch(conn, self.batch_size)
            if not rows:
                return RelayResult()
            published: list[int] = []
            failures: dict[int, tuple[int, str]] = {}
            deferred: list[int] = []
            for kind, publisher in self.publishers.items():
                batch = [r for r in rows if r.kind == kind]
                if not batch:
                    continue
                try:
                    failed = publisher.publish(batch)
                except SinkUnavailable as e:
                    log.warning("%s sink unavailable, %d rows wait: %s", kind, len(batch), e)
                    queries.defer(conn, [r.id for r in batch], OUTAGE_BACKOFF_SECONDS, str(e))
                    deferred += [r.id for r in batch]
                    continue
                for r in batch:
                    if r.id in failed:
                        failures[r.id] = (r.attempts, failed[r.id])
                    else:
                        published.append(r.id)
            if os.environ.get(CRASH_AFTER_PUBLISH_ENV) == "1" and published:
                os._exit(137)
            queries.mark_published(conn, published)
            parked = queries.record_failures(conn, failures, self.max_attempts)
            now = conn.execute(select(db_now())).scalar_one()
        for row_id, (_, error) in failures.items():
            log.warning("outbox row %s failed to publish: %s", row_id, error)
        result = RelayResult(
            len(rows),
            len(published),
            len(failures),
            parked,
            len(deferred),
            queries.lag_seconds([r for r in rows if r.id in set(published)], now),
        )
        _count(rows, set(published))
        return result

    def run_forever(self, stop: threading.Event) -> None:
        """Drain, then wait for a NOTIFY (PostgreSQL) or the poll interval, until stopped."""
        listener = _Listener(self.engine)
        passes = 0
        try:
            while not stop.is_set():
                try:
                    result = self.run_once()
                except Exception:
                    log.exception("relay pass failed; trying again")
                    stop.wait(self.poll_seconds)
                    continue
                passes += 1
                if self.retention_seconds and passes % PURGE_EVERY_PASSES == 0:
                    queries.purge_published(self.engine, self.retention_seconds)
                if result.claimed >= self.batch_size:
                    continue  # more is waiting
                if result.deferred:
                    stop.wait(OUTAGE_BACKOFF_SECONDS)
                    continue
                listener.wait(self.poll_seconds, stop)
        finally:
            listener.close()


class _Listener:
    """LISTEN on PostgreSQL; a plain timed wait elsewhere."""

    def __init__(self, engine: Engine):
        self.conn: Any = None
        if engine.dialect.name == "postgresql":
            self.conn = engine.raw_connection()
            self.conn.driver_connection.autocommit = True
            cur = self.conn.cursor()
            cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
            cur.close()

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return on a notification, after ``timeout`` seconds, or when stopped."""
        if self.conn is None:
            stop.wait(timeout)
            return
        pg = self.conn.driver_connection
        pg.poll()
        if pg.notifies:
            pg.notifies.clear()
            return
        ready, _, _ = select_module.select([pg], [], [], timeout)
        if ready:
            pg.poll()
            pg.notifies.clear()

    def close(self) -> None:
        """Stop listening."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _count(rows: list[Any], published: set[int]) -> None:
    from fileintel.metrics import RELAY_PUBLISHED

    for row in rows:
        if row.id in published:
            RELAY_PUBLISHED.labels(row.kind).inc()


def build_relay(
    settings: Settings,
    engine: Engine,
    *,
    broker: dramatiq.Broker | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    poll_seconds: float | None = None,
) -> Relay:
    """A relay for these settings: Redis Stream or no events sink, and the given broker."""
    if broker is None:
        from fileintel.workers.broker import build_broker

        broker = build_broker(settings.broker_url)
    events: Publisher = RedisStreamSink(settings) if settings.events_url else NullEventSink()
    return Relay(
        engine,
        events,
        BrokerDispatcher(broker),
        batch_size=batch_size,
        poll_seconds=poll_seconds or settings.relay_poll_seconds,
        retention_seconds=settings.outbox_retention_seconds,
    )
