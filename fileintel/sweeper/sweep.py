"""The sweeper: finds work whose lease expired or whose message was lost, and recovers it.

Dead work is detected by expired leases, not by age: a slow document whose worker keeps
heartbeating is never touched, and a dead one is noticed ``lease`` seconds after its last
heartbeat, not an hour later. ``Sweeper.run_once`` composes the rules, one module each:

- ``expired_leases``: re-dispatch with the next attempt, or fail when attempts are used up;
- ``lost_dispatches``: documents dispatched but never claimed for ``dispatch_timeout``;
- ``runs``: runs past their deadline, queued with no worker starting them, or open with
  every document finished;
- ``audit``, every ``AUDIT_INTERVAL_SECONDS`` (and on a sweeper's first pass): a run and
  its collection that disagree on open/closed.

The two "message lost?" rules (never claimed, never started) are held back while the
outbox is not draining (``outbox_backlog``): the messages were not sent yet, and sending
them again would only grow the backlog. They look at messages dispatched before the
dispatch timeout, or before the latest broker or database restart when that is later
(``restarts``): those are re-sent at the first pass after the restart.

Every decision is one small transaction that re-checks its condition, so two sweeps (or a
sweep and a worker) never both act, and every decision leaves a note or a history row.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from fileintel.config import Settings
from fileintel.db import db_now, read_tx, write_tx
from fileintel.errors import StateError
from fileintel.messaging.broker_uptime import BrokerUptime
from fileintel.sweeper import expired_leases, lost_dispatches, outbox_backlog, restarts, runs
from fileintel.sweeper.audit import AUDIT_INTERVAL_SECONDS, runs_disagreeing
from fileintel.sweeper.decisions import Decide

log = logging.getLogger("fileintel.sweeper")

#: Documents read per keyset batch by the document rules.
DEFAULT_BATCH_SIZE = 500


@dataclass
class SweepResult:
    """What one pass decided, counted per decision (``Decision`` values); ``found`` counts
    candidates seen."""

    decisions: Counter[str] = field(default_factory=Counter)
    found: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)
    #: Whether this pass ran the collection/run audit.
    audited: bool = False
    #: Why the "message lost?" re-dispatches were held back this pass (None: they were not).
    held: str | None = None

    @property
    def acted(self) -> int:
        """How many items the pass changed."""
        return sum(self.decisions.values())


class Sweeper:
    """One sweep pass at a time; safe to run from several processes at once."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        audit_interval: float = AUDIT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.engine = engine
        self.batch_size = batch_size
        self.audit_interval = audit_interval
        #: Whether the last pass held the "message lost?" rules back (logged on change only).
        self._holding = False
        self._clock = clock
        self._last_audit: float | None = None
        self._broker_uptime = BrokerUptime(settings.broker_url)

    def audit_due(self) -> bool:
        """True on this sweeper's first pass and once ``audit_interval`` has passed since
        its last audit."""
        return self._last_audit is None or self._clock() - self._last_audit >= self.audit_interval

    def run_once(
        self,
        now: dt.datetime | None = None,
        *,
        dry_run: bool = False,
        audit: bool | None = None,
    ) -> SweepResult:
        """One pass over every rule; ``now`` defaults to the database clock.

        ``audit``: run the collection/run audit (True), skip it (False), or run it when due
        (None, see ``audit_due``).
        """
        if now is None:
            with read_tx(self.engine) as conn:
                now = conn.execute(select(db_now())).scalar_one()
        result = SweepResult()
        self._expired_leases(now, result, dry_run)
        timeout = now - dt.timedelta(seconds=self.settings.dispatch_timeout_seconds)
        result.held = self._outbox_not_draining(now, timeout)
        # None holds back the "message lost?" rules: the messages were not sent yet.
        lost_before = None if result.held else self._lost_before(now, timeout)
        holding = lost_before is None
        if holding and not self._holding:
            log.warning("sweep: not re-sending unclaimed documents or starts: %s", result.held)
        elif self._holding and not holding:
            log.info("sweep: the outbox drains again; unclaimed documents are re-sent")
        self._holding = holding
        if lost_before is not None:
            self._unclaimed(now, lost_before, result, dry_run)
        seen = self._runs(runs.runs_needing_attention, now, lost_before, result, dry_run)
        if audit is None:
            audit = self.audit_due()
        if audit:
            self._last_audit = self._clock()
            result.audited = True
            self._runs(
                lambda conn, _now, _before: runs_disagreeing(conn),
                now,
                lost_before,
                result,
                dry_run,
                skip=seen,
            )
        if result.acted or result.errors:
            log.info("sweep: %s", dict(result.decisions) or "nothing to do")
        return result

    def _lost_before(self, now: dt.datetime, timeout: dt.datetime) -> dt.datetime:
        """Messages dispatched before this and never claimed are lost: the dispatch
        timeout, or the latest broker or database restart when it is later."""
        with read_tx(self.engine) as conn:
            restart = restarts.lost_before(conn, now, self._broker_uptime.seconds())
        if restart is None or restart.at <= timeout:
            return timeout
        log.debug("sweep: %s at %s; unclaimed older dispatches are lost", restart.what, restart.at)
        return restart.at

    def _outbox_not_draining(self, now: dt.datetime, created_before: dt.datetime) -> str | None:
        """Why lost-looking messages must not be sent again now, or None when they may."""
        with read_tx(self.engine) as conn:
            return outbox_backlog.hold_reason(conn, now, created_before)

    def _expired_leases(self, now: dt.datetime, result: SweepResult, dry_run: bool) -> None:
        self._scan(
            result,
            dry_run,
            lambda conn, after: expired_leases.expired_leases(conn, now, after, self.batch_size),
            expired_leases.describe,
            lambda doc: partial(
                expired_leases.recover_expired_lease,
                doc=doc,
                now=now,
                max_attempts=self.settings.max_document_attempts,
            ),
        )

    def _unclaimed(
        self, now: dt.datetime, older_than: dt.datetime, result: SweepResult, dry_run: bool
    ) -> None:
        self._scan(
            result,
            dry_run,
            lambda conn, after: lost_dispatches.unclaimed_dispatches(
                conn, older_than, after, self.batch_size
            ),
            lost_dispatches.describe,
            lambda doc: partial(lost_dispatches.recover_unclaimed, doc=doc, now=now),
        )

    def _scan(
        self,
        result: SweepResult,
        dry_run: bool,
        fetch: Callable[[Connection, int], list[Any]],
        describe: Callable[[Any], str],
        decider: Callable[[Any], Decide],
    ) -> None:
        """Walk candidates in keyset batches (by document id), deciding on each."""
        after = 0
        while True:
            with read_tx(self.engine) as conn:
                batch = fetch(conn, after)
            for doc in batch:
                result.found += 1
                if dry_run:
                    result.messages.append(describe(doc))
                else:
                    self._decide(result, decider(doc))
            if len(batch) < self.batch_size:
                return
            after = batch[-1].id

    def _runs(
        self,
        fetch: Callable[[Connection, dt.datetime, dt.datetime | None], list[Any]],
        now: dt.datetime,
        start_timeout: dt.datetime | None,
        result: SweepResult,
        dry_run: bool,
        skip: frozenset[str] = frozenset(),
    ) -> frozenset[str]:
        """Decide on each run ``fetch`` finds (except ``skip``); return the ids seen."""
        with read_tx(self.engine) as conn:
            found = [run for run in fetch(conn, now, start_timeout) if run.id not in skip]
        for run in found:
            result.found += 1
            if dry_run:
                result.messages.append(runs.describe(run))
                continue
            self._decide(
                result,
                partial(runs.recover_run, run=run, now=now, start_timeout=start_timeout),
            )
        return frozenset(run.id for run in found)

    def _decide(self, result: SweepResult, decide: Decide) -> None:
        try:
            with write_tx(self.engine) as conn:
                decision = decide(conn)
        except StateError as e:
            log.info("sweep: skipped, the state moved on: %s", e)
            return
        except Exception:
            result.errors += 1
            log.exception("sweep: a decision failed; the next pass will try again")
            return
        if decision is not None:
            # The plain value: counts, logs and metric labels show "redispatch_expired".
            result.decisions[decision.value] += 1

    def run_forever(self, stop: threading.Event, interval: float | None = None) -> None:
        """Sweep every ``interval`` seconds until ``stop`` is set (embedded mode)."""
        interval = interval or self.settings.sweep_interval_seconds
        while not stop.wait(interval):
            try:
                self.run_once()
            except Exception:
                log.exception("sweep pass failed; trying again in %.0f s", interval)
