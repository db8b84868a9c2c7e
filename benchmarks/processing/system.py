"""The processing benchmark's real system: worker and relay processes on PostgreSQL + Redis.

``system`` starts ``fileintel worker`` and ``fileintel relay`` as subprocesses on a fresh
PostgreSQL database of its own and a Redis database of its own (flushed before and after),
processes a warm-up collection, then times one run and meters the CPU of every process
involved (workers, relay, PostgreSQL backends, Redis).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from benchmarks.common.cpu_meter import CpuMeter, machine_cpu_seconds, process_tree
from benchmarks.common.databases import scratch_database
from benchmarks.common.processes import fileintel_environment, start_fileintel, stop_fileintel
from benchmarks.common.profiling import start_py_spy
from benchmarks.processing.profiles import summarise_profile, summarise_relay_profile
from benchmarks.processing.runs import Measurement, register, run_facts, timed_run

REDIS_URL = os.environ.get("FILEINTEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")


def flush_redis() -> None:
    """Empty the benchmark's Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def _commits(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def _pg_backends(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            int(pid)
            for pid in conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
        ]


def _redis_pid() -> int | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


@dataclass(frozen=True)
class SystemShape:
    """How the real system is started."""

    processes: int = 2
    threads: int = 1
    profile: bool = False
    #: Extra environment of the worker processes (e.g. ``dramatiq_queue_prefetch``).
    worker_env: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """``2x1``, with any extra environment."""
        extra = "".join(f", {k}={v}" for k, v in self.worker_env)
        return f"{self.processes}x{self.threads} workers{extra}"


def system(
    paths: Sequence[Path], warmup: Sequence[Path], logs: Path, shape: SystemShape
) -> Measurement:
    """Worker processes + relay on PostgreSQL and Redis, as separate processes."""
    from fileintel.db import make_engine

    flush_redis()
    with scratch_database(f"fileintel_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}") as url:
        env = fileintel_environment(
            FILEINTEL_DATABASE_URL=url, FILEINTEL_BROKER_URL=REDIS_URL, PYTHONUNBUFFERED="1"
        )
        engine = make_engine(url)
        worker_args = ["worker", "--processes", str(shape.processes)]
        worker = start_fileintel(
            [*worker_args, "--threads", str(shape.threads)],
            {**env, **dict(shape.worker_env)},
            logs / "worker.log",
        )
        relay = start_fileintel(["relay"], env, logs / "relay.log")
        spies: list[subprocess.Popen[bytes]] = []
        try:
            warm = timed_run(engine, register(engine, "warm-up", warmup), [worker, relay])
            collection_id = register(engine, "bench", paths)
            redis_pid = _redis_pid()
            meter = CpuMeter(
                {
                    "workers": lambda: process_tree(worker.pid),
                    "relay": lambda: process_tree(relay.pid),
                    "postgres": lambda: _pg_backends(engine),
                    "redis": lambda: [redis_pid] if redis_pid else [],
                    "benchmark (status polls)": lambda: [os.getpid()],
                }
            )
            n = len(list(logs.glob("*.profile.txt")))
            profiles = {"workers": logs / f"workers-{n}.profile.txt"}
            profiles["relay"] = logs / f"relay-{n}.profile.txt"
            if shape.profile:
                spies = [start_py_spy(worker.pid, profiles["workers"])]
                spies.append(start_py_spy(relay.pid, profiles["relay"]))
            time.sleep(1.0)  # let the statistics collector settle before the counter is read
            commits_before = _commits(engine)
            meter.start()
            machine_before = machine_cpu_seconds()
            timing = timed_run(engine, collection_id, [worker, relay])
            machine = machine_cpu_seconds() - machine_before
            meter.stop()
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            time.sleep(1.0)
            commits = _commits(engine) - commits_before - timing.polls
            details = run_facts(engine, timing.run_id)
            details.update(
                {
                    "final_status": timing.status,
                    "warm_up_s": round(warm.seconds, 2),
                    "warm_up_status": warm.status,
                    "commits": commits,
                    "commits_per_document": round(commits / len(paths), 2),
                    "cpu_seconds": {k: round(v, 1) for k, v in meter.used.items()},
                    "cpu_capacity_seconds": round(timing.waited * (os.cpu_count() or 1), 1),
                    "cpu_machine_seconds": round(machine, 1),
                }
            )
            if spies:
                details["worker_threads_time_pct"] = summarise_profile(profiles["workers"])
                details["relay_time_pct"] = summarise_relay_profile(profiles["relay"])
        finally:
            for spy in spies:
                if spy.poll() is None:
                    spy.kill()
            stop_fileintel(worker)
            stop_fileintel(relay)
            engine.dispose()
            flush_redis()
    mode = f"system: PostgreSQL + Redis ({shape.label})"
    own = sum(v for k, v in meter.used.items() if not k.startswith("benchmark"))
    return Measurement(mode, len(paths), timing.seconds, details, own, machine, timing.waited)
