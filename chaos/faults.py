"""The faults: what each kind does, and the seeded schedule that picks them.

Every fault blocks for its own duration (a process killed and restarted after a delay, a
link cut and healed) and returns a ``Fault`` with its wall-clock times and what it hit.
The schedule walks a shuffled list of every kind, again and again, so a short run still
gets each kind; all choices come from one ``random.Random(seed)``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from chaos.cluster import Postgres, Redis
from chaos.hosts import Host
from chaos.topology import FILEINTEL, Process
from fileintel.config import DEFAULT_LEASE_SECONDS, DEFAULT_SWEEP_INTERVAL_SECONDS
from fileintel.messaging.broker import build_broker, message_from_payload

#: A host is cut off for longer than the lease (its documents must move to the other).
CUT_SECONDS = (DEFAULT_LEASE_SECONDS + 5, DEFAULT_LEASE_SECONDS + 10)
#: A slow link lasts this long; it starts once earlier faults' leases have settled.
SLOW_SECONDS = (15.0, 20.0)
QUIET_BEFORE_SLOW = DEFAULT_LEASE_SECONDS + 2 * DEFAULT_SWEEP_INTERVAL_SECONDS


@dataclass
class Fault:
    """One injected fault: ``started``/``ended`` in UTC (``ended``: restart or heal)."""

    kind: str
    target: str
    started: dt.datetime
    ended: dt.datetime | None = None
    detail: str = ""
    problems: list[str] = field(default_factory=list)

    def line(self, t0: dt.datetime) -> str:
        start = (self.started - t0).total_seconds()
        end = f"{(self.ended - t0).total_seconds():7.1f}" if self.ended else "      -"
        return f"{start:7.1f} {end}  {self.kind:<19} {self.target:<14} {self.detail}"


@dataclass
class Targets:
    """What the faults act on."""

    engine: Engine
    postgres: Postgres
    broker: Redis
    events: Redis
    hosts: list[Host]
    processes: list[Process]
    database_url: str
    collections: list[str]
    rng: random.Random
    cli_env: dict[str, str]

    def of_kind(self, kind: str) -> list[Process]:
        return [p for p in self.processes if p.kind == kind]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _restart(t: Targets, p: Process, how: signal.Signals, f: Fault) -> None:
    if how == signal.SIGKILL:
        p.kill()
    else:
        code = p.terminate()
        f.detail = f"exit {code}"
    time.sleep(t.rng.uniform(1.0, 5.0))
    p.start()


def process_fault(kind: str, how: signal.Signals) -> Callable[[Targets], Fault]:
    def inject(t: Targets) -> Fault:
        p = t.rng.choice(t.of_kind(kind))
        f = Fault(f"{kind}_{how.name.lower()}", p.name, now())
        _restart(t, p, how, f)
        f.ended = now()
        return f

    return inject


def redis_restart(which: str) -> Callable[[Targets], Fault]:
    def inject(t: Targets) -> Fault:
        server = t.broker if which == "broker" else t.events
        f = Fault(f"{which}_redis_restart", server.name, now())
        server.kill()
        time.sleep(t.rng.uniform(0.5, 3.0))
        server.start()
        f.detail = "restarted empty" if which == "broker" else "restarted from its AOF"
        f.ended = now()
        return f

    return inject


def pg_terminate(t: Targets) -> Fault:
    f = Fault("pg_terminate_backend", "postgres", now())
    with t.engine.connect() as conn:
        pids = list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = 'chaos' "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            ).scalars()
        )
        chosen = t.rng.sample(pids, max(1, len(pids) // 2)) if pids else []
        for pid in chosen:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    f.detail = f"{len(chosen)} of {len(pids)} sessions"
    f.ended = now()
    return f


def pg_crash(t: Targets) -> Fault:
    f = Fault("postgres_crash", "postgres", now())
    t.postgres.crash()
    t.engine.dispose()
    time.sleep(t.rng.uniform(0.5, 3.0))
    t.postgres.start()
    f.detail = "pg_ctl stop -m immediate, restarted"
    f.ended = now()
    return f


def duplicate_delivery(t: Targets) -> Fault:
    f = Fault("duplicate_delivery", "broker", now())
    with t.engine.connect() as conn:
        rows = list(
            conn.execute(
                text(
                    "SELECT payload FROM outbox WHERE kind = 'dispatch' "
                    "AND published_at IS NOT NULL ORDER BY id DESC LIMIT 200"
                )
            ).scalars()
        )
    chosen = t.rng.sample(rows, min(20, len(rows)))
    broker = build_broker(t.broker.url())
    try:
        for payload in chosen:
            message = message_from_payload(
                payload if isinstance(payload, dict) else json.loads(payload)
            )
            broker.enqueue(message)
            broker.enqueue(message)
    finally:
        broker.close()
    f.detail = f"{len(chosen)} messages sent twice more"
    f.ended = now()
    return f


def cli(t: Targets, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FILEINTEL, *argv], env=t.cli_env, capture_output=True, text=True, timeout=120
    )


def _running_collection(t: Targets) -> str | None:
    with t.engine.connect() as conn:
        names = list(
            conn.execute(
                text("SELECT name FROM collections WHERE status IN ('queued', 'processing')")
            ).scalars()
        )
    return t.rng.choice(names) if names else None


def _clean_refusal(f: Fault, result: subprocess.CompletedProcess[str], what: str) -> None:
    """A refused command exits 1 with one line and no traceback."""
    if result.returncode not in (0, 1) or "Traceback" in result.stderr:
        f.problems.append(f"{what}: exit {result.returncode}: {result.stderr.strip()[:300]}")


def reprocess_running(t: Targets) -> Fault:
    name = _running_collection(t)
    f = Fault("reprocess_running", name or "-", now())
    if name is not None:
        result = cli(t, "collections", "process", name)
        _clean_refusal(f, result, "process while running")
        f.detail = f"exit {result.returncode}: {(result.stderr or result.stdout).strip()[:60]}"
    f.ended = now()
    return f


def cancel_retry(t: Targets) -> Fault:
    name = _running_collection(t)
    f = Fault("cancel_and_retry", name or "-", now())
    if name is not None:
        cancelled = cli(t, "collections", "cancel", name)
        _clean_refusal(f, cancelled, "cancel")
        time.sleep(t.rng.uniform(0.5, 3.0))
        again = cli(t, "collections", "retry", name)
        if again.returncode != 0:
            again = cli(t, "collections", "process", name)
        _clean_refusal(f, again, "retry")
        f.detail = f"cancel exit {cancelled.returncode}, again exit {again.returncode}"
    f.ended = now()
    return f


def host_cut(t: Targets) -> Fault:
    host = t.rng.choice(t.hosts)
    seconds = t.rng.uniform(*CUT_SECONDS)
    f = Fault("host_cut_off", host.names.namespace.rsplit("-", 1)[1], now())
    host.cut()
    time.sleep(seconds)
    host.heal()
    f.detail = f"link down {seconds:.0f} s (lease {DEFAULT_LEASE_SECONDS:.0f} s)"
    f.ended = now()
    return f


def slow_link(t: Targets) -> Fault:
    host = t.rng.choice(t.hosts)
    seconds = t.rng.uniform(*SLOW_SECONDS)
    f = Fault("slow_link", host.names.namespace.rsplit("-", 1)[1], now())
    how = host.slow()
    time.sleep(seconds)
    host.unslow()
    f.detail = f"{how} for {seconds:.0f} s"
    f.ended = now()
    return f


KINDS: dict[str, Callable[[Targets], Fault]] = {
    "worker_sigkill": process_fault("worker", signal.SIGKILL),
    "worker_sigterm": process_fault("worker", signal.SIGTERM),
    "relay_sigkill": process_fault("relay", signal.SIGKILL),
    "scheduler_sigkill": process_fault("scheduler", signal.SIGKILL),
    "broker_redis_restart": redis_restart("broker"),
    "events_redis_restart": redis_restart("events"),
    "pg_terminate_backend": pg_terminate,
    "postgres_crash": pg_crash,
    "duplicate_delivery": duplicate_delivery,
    "reprocess_running": reprocess_running,
    "cancel_and_retry": cancel_retry,
    "host_cut_off": host_cut,
    "slow_link": slow_link,
}


def schedule(rng: random.Random) -> Any:
    """Fault kinds forever: every kind once per round, in a seeded order."""
    while True:
        kinds = list(KINDS)
        rng.shuffle(kinds)
        yield from kinds
