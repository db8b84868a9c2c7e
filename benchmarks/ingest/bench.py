"""``add`` and ``ingest`` of many small files on the embedded defaults.

    .venv/bin/python -m benchmarks.ingest [--small 1000] [--large 10000]

1. ``fileintel collections add`` of ``--small`` and of ``--large`` files (2–6 KB text), each
   into a fresh SQLite file, timed as a process, minus the time of a command that does
   nothing but start (``collections list`` on the same file), measured just before. Target:
   the large ``add`` within 12 × the small one (10 × the files: not quadratic).
2. ``fileintel ingest`` of the ``--large`` files into a fresh file: seconds until the run is
   requested (registration done: what the user waits for before any processing) and until
   the first document is done, read from the database while it runs; then the total. From
   the first document done to the collection's end, the cores kept busy by ``ingest`` and
   its worker processes (their CPU seconds over the wall time), and by the whole machine:
   ``make run`` is this command, so this shows whether it uses every core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from benchmarks.common.cpu_meter import CpuMeter, machine_cpu_seconds, process_tree
from benchmarks.common.processes import FILEINTEL, fileintel_environment
from benchmarks.common.report import verdict
from benchmarks.memory.bench import write_small_files
from fileintel.models.states import TERMINAL_STATUSES

TARGET_FACTOR = 12.0
TERMINAL = {str(s) for s in TERMINAL_STATUSES}


def _env(db: Path) -> dict[str, str]:
    env = fileintel_environment(FILEINTEL_DATABASE_URL=f"sqlite:///{db}")
    subprocess.run([FILEINTEL, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


def _timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([FILEINTEL, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def add_seconds(workdir: Path, files: Path, name: str) -> float:
    """``collections add`` of every file in ``files``, minus a do-nothing command's time."""
    env = _env(workdir / f"{name}.db")
    _timed(["collections", "create", name], env)
    baseline = _timed(["collections", "list"], env)
    return _timed(["collections", "add", name, str(files)], env) - baseline


@dataclass
class IngestMilestones:
    """Seconds from the start of ``ingest``, and how busy the cores were while it processed."""

    requested: float  # the run requested: registration done
    first: float  # the first document done
    finished: float  # the collection terminal
    total: float  # the command exited
    ingest_cores: float  # CPU of ingest and its worker processes / wall, first to finished
    machine_cores: float  # CPU of the whole machine / wall, same window


def ingest_milestones(workdir: Path, files: Path) -> IngestMilestones:
    """Run ``ingest`` of ``files`` on a fresh file, reading its progress from the database."""
    db = workdir / "ingest.db"
    env = _env(db)
    engine = create_engine(f"sqlite:///{db}")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [FILEINTEL, "ingest", str(files), "--collection", "many"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    meter = CpuMeter({"ingest": lambda: process_tree(proc.pid)})
    requested = first = finished = 0.0
    machine = 0.0
    while proc.poll() is None:
        with engine.connect() as conn:
            if not requested and conn.execute(text("SELECT count(*) FROM runs")).scalar():
                requested = time.perf_counter() - started
            done = "SELECT count(*) FROM documents WHERE state = 'done'"
            if requested and not first and conn.execute(text(done)).scalar():
                first = time.perf_counter() - started
                meter.start()
                machine = machine_cpu_seconds()
            # The worker processes are still alive when the collection turns terminal.
            status = conn.execute(text("SELECT status FROM collections")).scalar()
            if first and status in TERMINAL:
                meter.stop()
                finished = time.perf_counter() - started
                machine = machine_cpu_seconds() - machine
                break
        time.sleep(0.02)
    proc.wait()
    engine.dispose()
    total = time.perf_counter() - started
    window = max(finished - first, 1e-9)
    return IngestMilestones(
        requested,
        first,
        finished,
        total,
        ingest_cores=meter.used.get("ingest", 0.0) / window,
        machine_cores=machine / window,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print; exit 0 when ``add`` scales within the target."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10_000)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fileintel-ingest-"))
    try:
        small = write_small_files(workdir / "small", args.small)
        large = write_small_files(workdir / "large", args.large)
        small_s = add_seconds(workdir, small, "small")
        large_s = add_seconds(workdir, large, "large")
        factor = large_s / small_s
        print(f"add {args.small} files: {small_s:.2f} s; add {args.large} files: {large_s:.2f} s")
        m = ingest_milestones(workdir, large)
        print(
            f"ingest {args.large} files: run requested after {m.requested:.2f} s, first "
            f"document done after {m.first:.2f} s, collection completed after "
            f"{m.finished:.1f} s, command exited after {m.total:.1f} s"
        )
        print(
            f"while processing: ingest and its workers kept {m.ingest_cores:.2f} of "
            f"{os.cpu_count()} cores busy (the whole machine {m.machine_cores:.2f})"
        )
        met = factor <= TARGET_FACTOR
        print(
            f"add: {factor:.1f} x the time for {args.large / args.small:g} x the files; "
            f"target <= {TARGET_FACTOR:g} x: {verdict(met)}"
        )
        return 0 if met else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
