"""Processing throughput: the real system beside the bare pipeline on the same corpus.

    .venv/bin/python -m benchmarks.bench_processing [--documents 1000] [--seed 1234]
        [--rounds 3] [--profile] [--also 2x2] [--also 2x1,dramatiq_queue_prefetch=16]
        [--skip-embedded]

One run measures, on a generated corpus of mixed documents (txt, md, html, pdf; 20–50 KB
each, fixed seed, written to a temporary directory):

1. **plain loop**: ``fileintel.pipeline.process_file`` over every file, split over 2
   processes (multiprocessing), no database, no broker: the ceiling for this machine.
2. **system**: PostgreSQL + Redis, with ``fileintel worker --processes 2 --threads 1`` and
   ``fileintel relay`` started as subprocesses; timed from the processing request (what
   ``collections process`` commits) until the collection reaches a terminal status.
3. **embedded**: SQLite + in-process broker (``EmbeddedRuntime``, 2 worker threads), timed
   the same way.

The plain loop and the system alternate: ``--rounds`` system runs, each between two plain
loops. The machine's speed drifts during a run (other tenants), so each round's ratio is the
system's rate over the mean of the plain loops just before and after it, and the median
round is the result. ``--also`` and the embedded mode run once, compared with the mean of
all plain loops.

Target: the system's rate is at least 0.6 of the plain loop's. The benchmark creates and
drops its own PostgreSQL database and uses a Redis database of its own (flushed before and
after). Each mode first processes a small warm-up collection that is not timed, so process
start-up and first imports are not counted. It prints a table with the ratios, the CPU
seconds per document of each mode's own processes (independent of other load on the
machine) and, for the system, where the time went: transactions per document, relay lag,
start latency, CPU per component (workers, relay, PostgreSQL, Redis) and, with
``--profile``, the shares of the worker threads' and the relay's time per activity, sampled
with py-spy (``pip install py-spy``). Exit code 0 when the target is met, 1 when not.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from benchmarks.cpu_meter import CpuMeter, machine_cpu_seconds, process_tree
from benchmarks.processing_corpus import MAX_BYTES, MIN_BYTES, generate_corpus
from benchmarks.py_spy import start_py_spy, summarise_profile, summarise_relay_profile
from benchmarks.scratch import create_database, drop_database

TARGET_RATIO = 0.6
DEFAULT_DOCUMENTS = 1000
DEFAULT_SEED = 1234
WARMUP_DOCUMENTS = 12
RUN_TIMEOUT_SECONDS = 1800.0
REDIS_URL = os.environ.get("FILEINTEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
FILEINTEL = str(Path(sys.executable).parent / "fileintel")

# --- results ------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One mode's result."""

    mode: str
    documents: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    #: CPU seconds used by the mode's own processes (PostgreSQL and Redis included).
    cpu_seconds: float = 0.0
    #: CPU seconds used by the whole machine meanwhile (other work shows up here).
    machine_cpu_seconds: float = 0.0

    @property
    def cpu_ms_per_document(self) -> float:
        """Own CPU per document: the cost that does not depend on what else runs."""
        return 1000.0 * self.cpu_seconds / self.documents

    @property
    def machine_busy(self) -> float:
        """Share of the machine's CPU capacity in use during the measurement (0–1)."""
        capacity = self.seconds * (os.cpu_count() or 1)
        return self.machine_cpu_seconds / capacity if capacity else 0.0

    @property
    def rate(self) -> float:
        """Documents per second."""
        return self.documents / self.seconds if self.seconds > 0 else float("inf")


# --- 1. the plain loop --------------------------------------------------------------------


def _process_one(path: str) -> int:
    from fileintel.pipeline import PipelineOptions, process_file

    return len(process_file(Path(path), PipelineOptions()).chunks)


def plain_loop(paths: Sequence[Path], processes: int = 2) -> Measurement:
    """``process_file`` over every path, split over ``processes`` worker processes."""
    names = [str(p) for p in paths]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_process_one, names[:WARMUP_DOCUMENTS], chunksize=1)  # imports, first calls
        meter = CpuMeter({"pool": lambda: [p.pid for p in multiprocessing.active_children()]})
        meter.start()
        machine = machine_cpu_seconds()
        started = time.perf_counter()
        chunks = sum(pool.map(_process_one, names, chunksize=4))
        seconds = time.perf_counter() - started
        machine = machine_cpu_seconds() - machine
        meter.stop()
    return Measurement(
        f"plain loop ({processes} processes)",
        len(names),
        seconds,
        {"chunks": chunks},
        cpu_seconds=meter.used["pool"],
        machine_cpu_seconds=machine,
    )


# --- shared: registering and timing a run -------------------------------------------------


def register(engine: Engine, name: str, paths: Sequence[Path]) -> str:
    """Create collection ``name`` holding ``paths`` (not timed); return its id."""
    from fileintel.db import write_tx
    from fileintel.store.collections import create_collection
    from fileintel.store.documents import register_documents, scan_paths

    facts = scan_paths([str(p) for p in paths])
    with write_tx(engine) as conn:
        collection_id = create_collection(conn, name, actor="benchmark")
        register_documents(conn, collection_id, facts)
    return collection_id


@dataclass(frozen=True)
class RunTiming:
    """A timed run: its id, the seconds to a terminal status, that status, status polls."""

    run_id: str
    seconds: float
    status: str
    polls: int


POLL_SECONDS = 0.1


def timed_run(
    engine: Engine, collection_id: str, daemons: Sequence[subprocess.Popen[bytes]] = ()
) -> RunTiming:
    """Request processing (as ``collections process`` does) and wait for a terminal status.

    Stops with an error as soon as one of ``daemons`` (the worker, the relay) has exited.
    """
    from fileintel.commands.processing import run_options
    from fileintel.db import read_tx, write_tx
    from fileintel.models.states import CollectionStatus
    from fileintel.models.tables import collections_t
    from fileintel.store.runs import request_processing

    started = time.perf_counter()
    with write_tx(engine) as conn:
        run_id = request_processing(
            conn, collection_id, options=run_options(False, False, False), actor="benchmark"
        )
    deadline = started + RUN_TIMEOUT_SECONDS
    c = collections_t.c
    polls = 0
    while True:
        with read_tx(engine) as conn:
            status = conn.execute(select(c.status).where(c.id == collection_id)).scalar_one()
        polls += 1
        if CollectionStatus(status).is_terminal:
            return RunTiming(run_id, time.perf_counter() - started, status, polls)
        if time.perf_counter() > deadline:
            raise RuntimeError(f"run {run_id} is still {status} after {RUN_TIMEOUT_SECONDS} s")
        dead = [str(p.args) for p in daemons if p.poll() is not None]
        if dead:
            raise RuntimeError(f"run {run_id} is {status} and these exited: {dead}; see logs")
        time.sleep(POLL_SECONDS)


def run_facts(engine: Engine, run_id: str) -> dict[str, Any]:
    """Where a run's time went, from the database: start latency, relay lag, finish spread."""
    from fileintel.db import read_tx
    from fileintel.models.tables import documents_t, outbox_t, runs_t

    r, d, o = runs_t.c, documents_t.c, outbox_t.c
    with read_tx(engine) as conn:
        run = conn.execute(select(runs_t).where(r.id == run_id)).one()
        first_done, last_done = conn.execute(
            select(func.min(d.finished_at), func.max(d.finished_at)).where(d.run_id == run_id)
        ).one()
        rows = conn.execute(
            select(o.kind, o.created_at, o.published_at).where(
                o.created_at >= run.requested_at, o.published_at.is_not(None)
            )
        ).all()
    lags = sorted((x.published_at - x.created_at).total_seconds() for x in rows)
    return {
        "status": run.status,
        "start_latency_s": (run.started_at - run.requested_at).total_seconds(),
        "first_document_s": (first_done - run.requested_at).total_seconds(),
        "last_document_s": (last_done - run.requested_at).total_seconds(),
        "outbox_rows": len(rows),
        "relay_lag_median_s": lags[len(lags) // 2] if lags else None,
        "relay_lag_max_s": lags[-1] if lags else None,
        "done": run.documents_done,
        "failed": run.documents_failed,
    }


# --- 2. the real system -------------------------------------------------------------------


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of the benchmark's own; dropped afterwards."""
    from fileintel.db import dispose_engines

    name = f"fileintel_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        yield create_database(name)
    finally:
        dispose_engines()
        drop_database(name)


def flush_redis() -> None:
    """Empty the benchmark's Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def _die_with_parent() -> None:
    """Linux: SIGTERM the child when the benchmark dies, so no worker is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [FILEINTEL, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the process (it stops its own children); SIGKILL the group after ``timeout``."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


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
    with postgres_database() as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILEINTEL_")}
        env.update(
            {
                "FILEINTEL_DATABASE_URL": url,
                "FILEINTEL_BROKER_URL": REDIS_URL,
                "PYTHONUNBUFFERED": "1",
            }
        )
        engine = make_engine(url)
        worker_args = ["worker", "--processes", str(shape.processes)]
        worker = _start(
            [*worker_args, "--threads", str(shape.threads)],
            {**env, **dict(shape.worker_env)},
            logs / "worker.log",
        )
        relay = _start(["relay"], env, logs / "relay.log")
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
                    "cpu_capacity_seconds": round(timing.seconds * (os.cpu_count() or 1), 1),
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
            _stop(worker)
            _stop(relay)
            engine.dispose()
            flush_redis()
    mode = f"system: PostgreSQL + Redis ({shape.label})"
    own = sum(v for k, v in meter.used.items() if not k.startswith("benchmark"))
    return Measurement(mode, len(paths), timing.seconds, details, own, machine)


# --- 3. the embedded mode -----------------------------------------------------------------


def embedded(paths: Sequence[Path], warmup: Sequence[Path], workdir: Path) -> Measurement:
    """SQLite file + in-process broker, worker threads and relay in this process."""
    from fileintel import migrate
    from fileintel.config import Settings
    from fileintel.db import dispose_engines, get_engine
    from fileintel.runtime import EmbeddedRuntime

    url = f"sqlite:///{workdir / 'embedded.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url)
    engine = get_engine(url)
    with EmbeddedRuntime(settings):
        warm = timed_run(engine, register(engine, "warm-up", warmup))
        collection_id = register(engine, "bench", paths)
        cpu, machine = time.process_time(), machine_cpu_seconds()
        timing = timed_run(engine, collection_id)
        cpu, machine = time.process_time() - cpu, machine_cpu_seconds() - machine
        details = run_facts(engine, timing.run_id)
    details.update({"final_status": timing.status, "warm_up_s": round(warm.seconds, 2)})
    dispose_engines()
    mode = "embedded: SQLite + in-process (2 threads)"
    return Measurement(mode, len(paths), timing.seconds, details, cpu, machine)


# --- report -------------------------------------------------------------------------------


def report(rows: Sequence[tuple[Measurement, float]]) -> str:
    """The table: rate and its ratio to the plain loop, own CPU per document, machine load."""
    lines = [
        f"{'mode':<52} {'docs':>5} {'seconds':>8} {'docs/s':>7} {'ratio':>6} "
        f"{'CPU ms/doc':>10} {'busy':>5}",
        "-" * 99,
    ]
    for m, ratio in rows:
        lines.append(
            f"{m.mode:<52} {m.documents:>5} {m.seconds:>8.2f} {m.rate:>7.1f} {ratio:>6.2f} "
            f"{m.cpu_ms_per_document:>10.1f} {m.machine_busy:>5.0%}"
        )
    lines.append(
        "ratio: docs/s over the plain loop's (a system round: over the mean of the plain loops "
        "just before and after it); CPU ms/doc: the mode's own processes (workers, relay, "
        "PostgreSQL, Redis); busy: the whole machine's CPU in use"
    )
    return "\n".join(lines)


def _show(name: str, m: Measurement) -> None:
    print(f"{name}: {m.rate:.1f} docs/s", flush=True)
    for key, value in m.details.items():
        print(f"  {key}: {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run every mode once and print the table; exit 0 when the target is met, 1 if not."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_processing")
    parser.add_argument("--documents", type=int, default=DEFAULT_DOCUMENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--skip-embedded", action="store_true", help="Skip the SQLite mode.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="System runs, each between two plain loops; the median round's ratio counts.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the corpus and logs.")
    parser.add_argument(
        "--worker-processes", type=int, default=2, help="fileintel worker --processes"
    )
    parser.add_argument("--worker-threads", type=int, default=1, help="fileintel worker --threads")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="PxT",
        help="Also measure the system with P worker processes of T threads (e.g. 2x2), "
        "optionally with worker environment: 2x1,dramatiq_queue_prefetch=16",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Sample the worker processes with py-spy (pip install py-spy) during the run.",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="fileintel-bench-"))
    try:
        started = time.perf_counter()
        paths = generate_corpus(workdir / "corpus", args.documents, args.seed)
        warmup = generate_corpus(workdir / "warm-up", WARMUP_DOCUMENTS, args.seed + 1)
        size = sum(p.stat().st_size for p in paths)
        print(
            f"corpus: {len(paths)} documents, {size / 1e6:.1f} MB "
            f"(txt/md/html/pdf, {MIN_BYTES // 1000}–{MAX_BYTES // 1000} KB, seed {args.seed}), "
            f"written in {time.perf_counter() - started:.1f} s; {os.cpu_count()} CPUs",
            flush=True,
        )
        # The machine's speed drifts during a run: each system round is compared with the
        # plain loops measured just before and just after it, and the median round counts.
        plains = [plain_loop(paths)]
        print(f"plain loop: {plains[0].rate:.1f} docs/s", flush=True)
        shape = SystemShape(args.worker_processes, args.worker_threads, args.profile)
        rounds: list[tuple[Measurement, float]] = []
        for n in range(1, args.rounds + 1):
            real = system(paths, warmup, workdir, shape)
            real.mode += f" round {n}"
            _show(f"system round {n}", real)
            plains.append(plain_loop(paths))
            print(f"plain loop: {plains[-1].rate:.1f} docs/s", flush=True)
            rounds.append((real, real.rate / ((plains[-2].rate + plains[-1].rate) / 2)))
        mean_plain = statistics.mean(p.rate for p in plains)
        rows = [(p, p.rate / mean_plain) for p in plains] + rounds
        for extra in args.also:
            size, *assignments = extra.split(",")
            processes, threads = (int(n) for n in size.lower().split("x"))
            worker_env = tuple(tuple(a.split("=", 1)) for a in assignments)
            other = system(
                paths,
                warmup,
                workdir,
                SystemShape(processes, threads, args.profile, worker_env),
            )
            _show(f"system {extra}", other)
            rows.append((other, other.rate / mean_plain))
        if not args.skip_embedded:
            emb = embedded(paths, warmup, workdir)
            _show("embedded", emb)
            rows.append((emb, emb.rate / mean_plain))
        print()
        print(report(rows))
        ratio = statistics.median(r for _, r in rounds)
        met = ratio >= TARGET_RATIO
        print(
            f"\nsystem rounds: {', '.join(f'{r:.2f}' for _, r in rounds)}; "
            f"target: system >= {TARGET_RATIO:.2f} x plain loop; "
            f"measured (median round) {ratio:.2f}: {'met' if met else 'NOT met'}"
        )
        return 0 if met else 1
    finally:
        if args.keep:
            print(f"corpus and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
