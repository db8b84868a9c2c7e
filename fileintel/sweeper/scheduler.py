"""``fileintel scheduler``: APScheduler runs the sweep every few seconds, one leader at a time.

Every scheduler process ticks on the same interval. A tick first tries to take the sweep
lock (``fileintel.sweeper.leader``); the holder sweeps, the others stand by and log nothing. When
the leader dies its lock goes with it, and a standby takes over at its next tick, so the
gap is at most one interval. Coalescing and ``max_instances=1`` keep a slow sweep from
piling up runs. Outbox retention runs here too, every ``RETENTION_EVERY`` ticks.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from fileintel.config import Settings
from fileintel.metrics import SWEEP_DECISIONS
from fileintel.store.heartbeats import HeartbeatThread
from fileintel.store.outbox_state import purge_published
from fileintel.sweeper.leader import LeaderLock
from fileintel.sweeper.sweep import Sweeper, SweepResult

log = logging.getLogger("fileintel.scheduler")

RETENTION_EVERY = 60


@dataclass
class TickResult:
    """One tick: whether this process led, and what its sweep did."""

    leader: bool
    sweep: SweepResult | None = None
    purged: int = 0


class SweepScheduler:
    """The sweep on a timer, behind the leader lock."""

    def __init__(self, settings: Settings, engine: Engine, *, interval: float | None = None):
        self.settings = settings
        self.engine = engine
        self.interval = interval or settings.sweep_interval_seconds
        self.lock = LeaderLock(engine)
        self.sweeper = Sweeper(settings, engine)
        self.heartbeat = HeartbeatThread(engine, "scheduler")
        self._ticks = 0
        self._was_leader = False

    def tick(self) -> TickResult:
        """Sweep if this process holds (or can take) the lock."""
        leader = self.lock.try_acquire()
        self.heartbeat.info = {"holds_sweep_lock": leader}
        if leader != self._was_leader:
            log.info("this scheduler is now %s", "the leader" if leader else "a standby")
            self._was_leader = leader
        if not leader:
            return TickResult(leader=False)
        result = TickResult(leader=True, sweep=self.sweeper.run_once())
        self._ticks += 1
        if self._ticks % RETENTION_EVERY == 0:
            result.purged = self._purge()
        _count(result.sweep)
        return result

    def _purge(self) -> int:

        try:
            return purge_published(self.engine, self.settings.outbox_retention_seconds)
        except Exception:
            log.exception("outbox retention failed; will try again")
            return 0

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("sweep tick failed; the next tick tries again")

    def run(self, stop: threading.Event | None = None) -> None:
        """Block, ticking every interval, until interrupted (or ``stop`` is set)."""
        scheduler = BlockingScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        scheduler.add_job(
            self._safe_tick,
            "interval",
            seconds=self.interval,
            id="sweep",
            next_run_time=dt.datetime.now(dt.UTC),
        )
        if stop is not None:
            threading.Thread(
                target=lambda: (stop.wait(), scheduler.shutdown(wait=False)), daemon=True
            ).start()
        self.heartbeat.start()
        try:
            scheduler.start()
        finally:
            self.heartbeat.stop()
            self.lock.release()


def _count(result: SweepResult | None) -> None:
    if result is None:
        return

    for decision, n in result.decisions.items():
        SWEEP_DECISIONS.labels(decision).inc(n)
