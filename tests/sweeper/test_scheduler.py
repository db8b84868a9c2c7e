"""The scheduler: one leader at a time (advisory lock / flock), fail-over when the leader
dies, and what it shows operators (Prometheus metrics, JSON logs, heartbeats)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from fileintel.db import make_engine, read_tx
from fileintel.models.tables import outbox_t
from fileintel.store.heartbeats import seen_recently
from fileintel.sweeper.leader import LeaderLock, lock_holder_exists
from fileintel.sweeper.scheduler import SweepScheduler
from tests.helpers import wait_for
from tests.processes import cli, cli_env, logs_of, start_process, stop_process
from tests.services import scratch_pg_database
from tests.sweeper.support import (
    backdate_lease,
    claim,
    free_port,
    settings_for,
    started,
    sweep_lock_holders,
)

INTERVAL = 1.0
#: Slack for the standby to notice: process scheduling and one PostgreSQL round trip.
TAKEOVER_MARGIN = 2.0
LEADER_LINE = re.compile(r"fileintel\.scheduler\[(\d+)\]: this scheduler is now the leader")


def test_leader_lock_on_sqlite_admits_one_holder(sqlite_url: str) -> None:
    first_engine, second_engine = make_engine(sqlite_url), make_engine(sqlite_url)
    first, second = LeaderLock(first_engine), LeaderLock(second_engine)
    try:
        assert first.try_acquire()
        assert not second.try_acquire(), "the flock must keep a second holder out"
        assert first.try_acquire(), "the holder keeps it"
        lock_file = Path(sqlite_url.removeprefix("sqlite:///") + ".sweep.lock")
        assert lock_file.read_text().strip() == str(os.getpid())
        first.release()
        assert not first.held
        assert second.try_acquire(), "released: the next try takes it"
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
        first_engine.dispose()
        second_engine.dispose()


def test_leader_lock_on_postgresql_admits_one_holder(pg_url: str) -> None:
    engines = [make_engine(pg_url), make_engine(pg_url)]
    first, second = (LeaderLock(e) for e in engines)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert sweep_lock_holders(pg_url) == 1
        assert lock_holder_exists(engines[0]) is True
        first.release()
        assert sweep_lock_holders(pg_url) == 0
        assert second.try_acquire()
        assert sweep_lock_holders(pg_url) == 1
    finally:
        first.release()
        second.release()
        for e in engines:
            e.dispose()


@pytest.fixture
def other_pg_database() -> Iterator[str]:
    """A second, empty PostgreSQL database on the same server (another deployment)."""
    with scratch_pg_database("fileintel_other") as url:
        yield url


def test_a_sweep_lock_held_in_another_database_is_not_this_deployments(
    pg_url: str, other_pg_database: str
) -> None:
    """Advisory locks are per database: a scheduler of another deployment on the same
    server neither blocks ours nor counts as ours in ``doctor``."""
    mine, theirs = make_engine(pg_url), make_engine(other_pg_database)
    their_lock, my_lock = LeaderLock(theirs), LeaderLock(mine)
    try:
        assert their_lock.try_acquire()
        assert my_lock.try_acquire(), "a lock in another database must not block ours"
        my_lock.release()
        assert lock_holder_exists(mine) is False, (
            "lock_holder_exists reports the other database's scheduler as ours"
        )
        done = cli(["doctor"], cli_env(pg_url))
        [line] = [x for x in done.stdout.splitlines() if x.split()[1] == "scheduler"]
        assert line.startswith("WARN"), done.stdout
    finally:
        their_lock.release()
        my_lock.release()
        mine.dispose()
        theirs.dispose()


def test_two_scheduler_objects_take_turns(db_url: str, engine: Engine) -> None:
    """``tick`` in this process: the lock holder sweeps, the other stands by."""
    settings = settings_for(db_url)
    other_engine = make_engine(db_url)
    leader, standby = SweepScheduler(settings, engine), SweepScheduler(settings, other_engine)
    try:
        work = started(engine, "ticks", 1)
        claim(engine, work, work.doc_ids[0])
        backdate_lease(engine, work.doc_ids, 5)
        first = leader.tick()
        assert first.leader and first.sweep is not None
        assert dict(first.sweep.decisions) == {"redispatch_expired": 1}
        assert leader.heartbeat.info == {"holds_sweep_lock": True}
        second = standby.tick()
        assert (second.leader, second.sweep) == (False, None)
        assert standby.heartbeat.info == {"holds_sweep_lock": False}
        leader.lock.release()
        assert standby.tick().leader
    finally:
        leader.lock.release()
        standby.lock.release()
        other_engine.dispose()


def leader_pids(logs: list[Path]) -> list[int]:
    """Pids that logged taking the lead, over every log, in no particular order."""
    pids = []
    for path in logs:
        pids += [int(m.group(1)) for m in LEADER_LINE.finditer(path.read_text(errors="replace"))]
    return pids


def test_two_schedulers_one_leader_and_takeover_after_sigkill(pg_url: str, tmp_path: Path) -> None:
    env = cli_env(pg_url)
    logs = [tmp_path / "scheduler-a.log", tmp_path / "scheduler-b.log"]
    procs = [start_process(["scheduler", "--interval", str(INTERVAL)], env, log) for log in logs]
    try:
        [first] = wait_for(lambda: leader_pids(logs), timeout=60, what="a leader", interval=0.05)
        # Both are up and ticking: give the standby a few ticks to prove it stays standby.
        wait_for(
            lambda: len(seen_recently_schedulers(pg_url)) == 2, timeout=30, what="both beating"
        )
        time.sleep(3 * INTERVAL)
        assert leader_pids(logs) == [first], logs_of(tmp_path)
        assert sweep_lock_holders(pg_url) == 1
        leader = next(p for p in procs if p.pid == first)
        standby = next(p for p in procs if p is not leader)

        os.killpg(leader.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        leader.wait(10)
        [second] = wait_for(
            lambda: [p for p in leader_pids(logs) if p != first],
            timeout=30,
            what="the standby to take over",
            interval=0.02,
        )
        takeover = time.monotonic() - killed_at
        assert second == standby.pid
        assert sweep_lock_holders(pg_url) == 1
        assert takeover < INTERVAL + TAKEOVER_MARGIN, f"took over after {takeover:.2f} s"
        print(f"\nscheduler takeover after SIGKILL of the leader: {takeover:.2f} s")
        # Its heartbeat says so too (heartbeats are written every 10 s).
        wait_for(
            lambda: any(
                s["info"].get("holds_sweep_lock") and s["id"].endswith(f":{second}")
                for s in seen_recently_schedulers(pg_url)
            ),
            timeout=25,
            what="the new leader's heartbeat to report the lock",
            interval=0.25,
        )
    finally:
        for proc in procs:
            assert stop_process(proc, group=True) is not None


def seen_recently_schedulers(pg_url: str) -> list[dict[str, Any]]:
    """Scheduler heartbeats seen within the last minute."""
    engine = make_engine(pg_url)
    try:
        with read_tx(engine) as conn:
            return seen_recently(conn, "scheduler")
    finally:
        engine.dispose()


def scrape(port: int) -> str:
    """The text of ``/metrics``, or "" while the server is not up yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def scrape_when(port: int, wanted: str) -> str | None:
    """The text of ``/metrics`` once it contains ``wanted``, else None."""
    metrics = scrape(port)
    return metrics if wanted in metrics else None


def sample(metrics: str, name: str) -> float | None:
    """The value of the first sample line that starts with ``name``."""
    for line in metrics.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_scheduler_serves_metrics_and_logs_json(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    work = started(engine, "metrics", 2)
    claim(engine, work, work.doc_ids[0])
    backdate_lease(engine, work.doc_ids[:1], 30)
    port = free_port()
    env = cli_env(pg_url, extra={"FILEINTEL_LOG_FORMAT": "json"})
    err = tmp_path / "scheduler-stderr.log"
    proc = start_process(
        ["scheduler", "--interval", str(INTERVAL), "--metrics-port", str(port)],
        env,
        tmp_path / "scheduler-stdout.log",
        stderr_log=err,
    )
    decided = 'fileintel_sweeper_decisions_total{decision="redispatch_expired"}'
    try:
        metrics = wait_for(
            lambda: scrape_when(port, decided),
            timeout=60,
            what="the sweeper decision on /metrics",
            interval=0.2,
            details=lambda: err.read_text(errors="replace")[-3000:],
        )
        assert sample(metrics, decided) == 1.0
        with read_tx(engine) as conn:
            backlog = conn.execute(
                select(func.count()).select_from(outbox_t).where(outbox_t.c.published_at.is_(None))
            ).scalar_one()
        assert backlog > 0  # no relay runs here
        assert sample(scrape(port), "fileintel_outbox_backlog") == float(backlog)
        assert sample(metrics, "fileintel_stuck_collections") is not None
    finally:
        assert stop_process(proc, group=True) is not None
        engine.dispose()
    records = []
    for line in filter(None, err.read_text().splitlines()):
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}")
    assert all({"at", "level", "logger", "message", "pid"} <= set(r) for r in records)
    messages = {(r["logger"], r["message"]) for r in records}
    assert ("fileintel.scheduler", "this scheduler is now the leader") in messages
    assert ("fileintel.sweeper", "sweep: {'redispatch_expired': 1}") in messages
    assert all(r["pid"] == proc.pid for r in records if r["logger"].startswith("fileintel"))


def test_scheduler_stops_on_sigterm_and_frees_the_lock(pg_url: str, tmp_path: Path) -> None:
    proc = start_process(
        ["scheduler", "--interval", str(INTERVAL)], cli_env(pg_url), tmp_path / "s.log"
    )
    try:
        wait_for(lambda: sweep_lock_holders(pg_url) == 1, timeout=60, what="the lock")
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(15) == 0, logs_of(tmp_path)
        assert sweep_lock_holders(pg_url) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scheduler did not stop on SIGTERM\n{logs_of(tmp_path)}")
    finally:
        stop_process(proc, group=True)
