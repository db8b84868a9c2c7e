"""The embedded mode in the processing benchmark: SQLite + the embedded runtime, timed as
the system is (from the processing request to the run's end, by the database's clock).

The runtime is the one ``fileintel run`` and ``ingest`` start: ``processes`` worker
processes of ``threads`` threads taking dispatch rows from the outbox, the relay and the
sweeper in this process. Its CPU is this process's plus its worker processes'.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common.cpu_meter import CpuMeter, machine_cpu_seconds
from benchmarks.processing.runs import Measurement, register, run_facts, timed_run


def embedded(
    paths: Sequence[Path],
    warmup: Sequence[Path],
    workdir: Path,
    processes: int,
    threads: int,
) -> Measurement:
    """One timed run of ``paths`` on a fresh SQLite file with the embedded runtime."""
    from fileintel import migrate
    from fileintel.config import Settings
    from fileintel.db import dispose_engines, get_engine
    from fileintel.runtime import EmbeddedRuntime

    db = workdir / f"embedded-{processes}x{threads}.db"
    url = f"sqlite:///{db}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, log_level="warning")
    engine = get_engine(url)
    runtime = EmbeddedRuntime(settings, processes=processes, worker_threads=threads)
    pids = runtime.supervisor.pids if runtime.supervisor else list
    with runtime:
        # Each worker process's CPU over the wall time shows how many cores the mode kept busy.
        groups: dict[str, Callable[[], list[int]]] = {"runtime": lambda: [os.getpid(), *pids()]}
        groups.update({f"worker {pid}": functools.partial(list, [pid]) for pid in pids()})
        meter = CpuMeter(groups)
        warm = timed_run(engine, register(engine, "warm-up", warmup))
        collection_id = register(engine, "bench", paths)
        meter.start()
        machine, started = machine_cpu_seconds(), time.perf_counter()
        timing = timed_run(engine, collection_id)
        machine, metered = machine_cpu_seconds() - machine, time.perf_counter() - started
        meter.stop()
        details = run_facts(engine, timing.run_id)
    details.update({"final_status": timing.status, "warm_up_s": round(warm.seconds, 2)})
    details["cores_busy_per_worker"] = [
        round(used / metered, 2) for name, used in meter.used.items() if name != "runtime"
    ]
    dispose_engines()
    for leftover in workdir.glob(f"{db.name}*"):
        leftover.unlink()
    mode = f"embedded: SQLite, {processes} process(es) x {threads} thread(s)"
    return Measurement(
        mode, len(paths), timing.seconds, details, meter.used["runtime"], machine, metered
    )
