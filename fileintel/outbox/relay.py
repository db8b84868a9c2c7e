"""The relay: publishes committed outbox rows, at least once, in order per collection.

**Claim by state, never by a cursor.** Each pass takes the due rows that are neither
published nor parked, in id order (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
relays share the work), publishes them, and marks them published in the same transaction.
A row whose transaction commits after higher ids were already published (an "ordering
gap": ids are drawn at insert, rows become visible at commit) is still unpublished, so a
later pass takes it: nothing committed is left behind, as a high-water mark would.

**Order per key.** Every row has a key (the collection id for events, ``dispatch:<message
id>`` for a dispatch, so dispatches have no order among themselves). A collection's rows
leave in id order, and id order is its commit order: a status change (and a document's
progress) updates the collection row, taking its row lock, *before* it inserts the outbox
row, and holds the lock until it commits; the next writer of that collection waits for the
lock, so it draws a higher id and commits later. The claim (``queries.claim_batch``) keeps
only claimed rows with no older unpublished, unparked row of their key outside the claim:
that older row may be locked by another relay (still being published), backing off after
a failure, not due yet, or of a kind whose sink is down; in every case the key's later rows
wait. Another relay that publishes a key's head commits before this relay can see the head
as published, and it publishes before it commits, so two relays never reorder a key. A
parked row no longer holds its key back; it stays visible in ``outbox status`` until
``outbox retry-parked``. On SQLite there is one writer at a time, so the same claim is
a plain ordered read.

**At least once, never early.** A crash between publishing and committing leaves the rows
unpublished; the next pass publishes them again (consumers dedupe by ``event_id``; actors
are idempotent). Nothing leaves while a database crash could still undo it (``durable``).
``FILEINTEL_RELAY_CRASH_AFTER_PUBLISH=1`` (tests) exits with code 137 right after
publishing a batch, before it commits.

**Failures.** A row that fails on its own gets ``attempts + 1``, its error, and an
exponential backoff in ``available_at``; at ``max_attempts`` it is parked. A sink that is
down (Redis or the broker unreachable) costs no attempts: the relay leaves that kind of row
alone for a growing pause (0.5 s doubling to 10 s) and carries on with the other kind.

**Wake-up.** On PostgreSQL the relay LISTENs on ``fileintel_outbox`` (the migration's
trigger NOTIFYs on every insert into the outbox, delivered at commit, with the kinds of
rows inserted as payload) and polls every ``poll_seconds`` as a fallback; on SQLite it
polls. Without an events sink an event row publishes nothing, so a notification about
event rows alone does not wake the relay: they are marked on its next pass (the poll, or a
dispatch), in one batch instead of one pass per finished document.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
from sqlalchemy import Engine

from fileintel.backends import backend_for
from fileintel.config import Settings
from fileintel.errors import DatabaseError
from fileintel.messaging.broker import build_broker
from fileintel.metrics import RELAY_PUBLISHED
from fileintel.models.tables import OUTBOX_DISPATCH as DISPATCH
from fileintel.models.tables import OUTBOX_EVENT as EVENT
from fileintel.outbox import queries
from fileintel.outbox.durable import flush_committed, needs_flush
from fileintel.outbox.publishers import (
    BrokerDispatcher,
    NullEventSink,
    Publisher,
    RedisStreamSink,
    SinkUnavailable,
)
from fileintel.outbox.wakeup import Wakeup
from fileintel.store.outbox_state import purge_published

log = logging.getLogger("fileintel.relay")

DEFAULT_BATCH_SIZE = 500
OUTAGE_FIRST_PAUSE_SECONDS = 0.5
OUTAGE_MAX_PAUSE_SECONDS = 10.0
PURGE_INTERVAL_SECONDS = 600.0
#: Fault injection for tests: exit right after publishing a batch, before marking it.
CRASH_AFTER_PUBLISH_ENV = "FILEINTEL_RELAY_CRASH_AFTER_PUBLISH"
CRASH_EXIT_CODE = 137


@dataclass(frozen=True)
class RelayResult:
    """What one pass did (``claimed`` counts the rows held back as well)."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    parked: int = 0
    lag_seconds: float = 0.0
    #: Held back to keep a key's order (an older row of the key is in flight or failed).
    held: int = 0
    #: Left for later because their sink is down (no attempt counted).
    deferred: int = 0


class _Outage:
    """When a sink may be tried again after it was found down (monotonic clock)."""

    def __init__(self) -> None:
        self.failures = 0
        self.retry_at = 0.0

    def down(self, error: BaseException, kind: str) -> None:
        self.failures += 1
        pause = min(OUTAGE_MAX_PAUSE_SECONDS, OUTAGE_FIRST_PAUSE_SECONDS * 2 ** (self.failures - 1))
        self.retry_at = time.monotonic() + pause
        log.warning("%s sink unavailable, trying again in %.1f s: %s", kind, pause, error)

    def up(self, kind: str) -> None:
        if self.failures:
            log.info("%s sink is back after %d failed tries", kind, self.failures)
        self.failures = 0
        self.retry_at = 0.0

    def wait_seconds(self) -> float:
        return max(0.0, self.retry_at - time.monotonic())


class Relay:
    """One relay: ``run_once`` is a pass, ``run_forever`` the daemon loop."""

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
        kinds: Collection[str] = (EVENT, DISPATCH),
    ):
        self.engine = engine
        #: Only these kinds are claimed: the embedded mode's parent publishes events while
        #: its worker processes take the dispatch rows themselves (``embedded.feed``).
        publishers: dict[str, Publisher] = {EVENT: events, DISPATCH: dispatches}
        self.publishers = {kind: p for kind, p in publishers.items() if kind in kinds}
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.retention_seconds = retention_seconds
        self._outages = {kind: _Outage() for kind in self.publishers}
        self._crash_after_publish = os.environ.get(CRASH_AFTER_PUBLISH_ENV) == "1"
        self._wakeup: Wakeup | None = None
        self._last_purge = time.monotonic()

    def run_once(self) -> RelayResult:
        """Claim a batch, publish it, and mark it published: one transaction."""
        kinds = [k for k, outage in self._outages.items() if outage.wait_seconds() == 0]
        if not kinds:
            return RelayResult()
        # A hot transaction: on PostgreSQL BEGIN goes with the claim, COMMIT with the mark.
        with backend_for(self.engine).hot_tx(self.engine) as conn:
            claim = queries.claim_batch(conn, self.batch_size, kinds, begin=True)
            if not claim.rows:
                return RelayResult(claimed=claim.held, held=claim.held)
            if needs_flush(claim.rows, self.lazy_kinds):
                flush_committed(self.engine)  # nothing leaves that a crash could take back
            published, failures, held, deferred = self._publish(claim.rows)
            if self._crash_after_publish and published:
                os._exit(CRASH_EXIT_CODE)
            parked = queries.record_failures(conn, failures, self.max_attempts)
            queries.mark_published(conn, [r.id for r in published], commit=True)
        for f in failures:
            log.warning("outbox row %s failed to publish (attempt %d): %s", *_describe(f))
        _count(published)
        return RelayResult(
            claimed=len(claim.rows) + claim.held,
            published=len(published),
            failed=len(failures),
            parked=parked,
            lag_seconds=queries.lag_seconds(published, claim.now),
            held=claim.held + held,
            deferred=deferred,
        )

    @property
    def lazy_kinds(self) -> list[str]:
        """Kinds whose publishing changes nothing outside the database (``Publisher``)."""
        return [kind for kind, p in self.publishers.items() if getattr(p, "lazy", False)]

    def _publish(self, rows: Sequence[Any]) -> tuple[list[Any], list[queries.Failure], int, int]:
        published: list[Any] = []
        failures: list[queries.Failure] = []
        held = deferred = 0
        for kind, publisher in self.publishers.items():
            batch = [r for r in rows if r.kind == kind]
            if not batch:
                continue
            try:
                outcome = publisher.publish(batch)
            except SinkUnavailable as e:
                self._outages[kind].down(e, kind)
                done = set(e.done)
                published += [r for r in batch if r.id in done]
                deferred += len(batch) - len(done)
                continue
            self._outages[kind].up(kind)
            for r in batch:
                if r.id in outcome.failed:
                    failures.append(queries.Failure(r.id, r.attempts, outcome.failed[r.id]))
                elif r.id in outcome.held:
                    held += 1
                else:
                    published.append(r)
        return published, failures, held, deferred

    def run_forever(self, stop: threading.Event) -> None:
        """Drain; then wait for a NOTIFY (PostgreSQL), a wake-up or the poll interval."""
        self._wakeup = wakeup = Wakeup(self.engine, quiet=self.lazy_kinds)
        self._last_purge = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    result = self.run_once()
                except DatabaseError as e:  # its cause in one line (disk full, unreachable)
                    log.warning("relay pass failed: %s; trying again", e)
                    wakeup.wait(self.poll_seconds, stop)
                    continue
                except Exception:
                    log.exception("relay pass failed; trying again")
                    wakeup.wait(self.poll_seconds, stop)
                    continue
                self._purge_when_due()
                if result.claimed >= self.batch_size and result.published + result.failed:
                    continue  # more is waiting
                wakeup.wait(self._idle_seconds(), stop)
        finally:
            self._wakeup = None
            wakeup.close()
            if stop.is_set():  # what was committed before the stop leaves now, not at restart
                with contextlib.suppress(Exception):
                    self.run_once()
            self.close()

    def _idle_seconds(self) -> float:
        pending = [o.wait_seconds() for o in self._outages.values() if o.failures]
        return min([self.poll_seconds, *(p for p in pending if p > 0)])

    def wake(self) -> None:
        """Make a waiting ``run_forever`` look at the outbox (or at ``stop``) now."""
        if self._wakeup is not None:
            self._wakeup.wake()

    def purge_published(self, older_than_seconds: float) -> int:
        """Delete rows published more than ``older_than_seconds`` ago; return how many."""
        return purge_published(self.engine, older_than_seconds)

    def _purge_when_due(self) -> None:
        if not self.retention_seconds:
            return
        if time.monotonic() - self._last_purge < PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = time.monotonic()
        try:
            purged = self.purge_published(self.retention_seconds)
        except Exception:
            log.exception("outbox retention failed; the next round tries again")
            return
        if purged:
            log.info("deleted %d published outbox rows", purged)

    def close(self) -> None:
        """Release the sinks' connections."""
        for publisher in self.publishers.values():
            try:
                publisher.close()
            except Exception:
                log.debug("closing a publisher failed", exc_info=True)


def _describe(f: queries.Failure) -> tuple[int, int, str]:
    return f.row_id, f.attempts + 1, f.error


def _count(published: Sequence[Any]) -> None:

    counts: dict[str, int] = {}
    for row in published:
        counts[row.kind] = counts.get(row.kind, 0) + 1
    for kind, n in counts.items():
        RELAY_PUBLISHED.labels(kind).inc(n)


def build_relay(
    settings: Settings,
    engine: Engine,
    *,
    broker: dramatiq.Broker | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    poll_seconds: float | None = None,
    max_attempts: int | None = None,
    kinds: Collection[str] = (EVENT, DISPATCH),
) -> Relay:
    """A relay for these settings: the Redis Stream (or no events sink) and the broker."""
    if broker is None:
        broker = build_broker(settings.broker_url)
    events: Publisher = RedisStreamSink(settings) if settings.events_url else NullEventSink()
    return Relay(
        engine,
        events,
        BrokerDispatcher(broker, settings.secrets),
        batch_size=batch_size,
        poll_seconds=poll_seconds or settings.relay_poll_seconds,
        max_attempts=max_attempts or settings.relay_max_attempts,
        retention_seconds=settings.outbox_retention_seconds,
        kinds=kinds,
    )
