"""Profiling a benchmark: py-spy over other processes, cProfile inside this one.

``start_py_spy`` records a process tree with ``py-spy record --idle`` (wall time, waits
included); ``shares`` sums its samples per activity, as a caller's ``category`` names them
by the functions on the stack. ``cprofile_top`` is the report the benchmarks print for a
cProfile of their own process.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def start_py_spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample ``pid`` and its children (idle threads included) until SIGINT."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--idle",
            "--nonblocking",
            "--format",
            "raw",
            "--rate",
            "50",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def shares(raw: Path, category: Callable[[str], str | None]) -> dict[str, float]:
    """Percent of the samples per category, largest first; ``category`` names a stack's
    activity, or None to leave the stack out."""
    totals: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        name = category(stack) if count.isdigit() else None
        if name is not None:
            totals[name] = totals.get(name, 0) + int(count)
    samples = sum(totals.values()) or 1
    return {
        k: round(100.0 * v / samples, 1) for k, v in sorted(totals.items(), key=lambda i: -i[1])
    }


def cprofile_top(profiler: cProfile.Profile, limit: int) -> str:
    """The ``limit`` functions with the most cumulative time, as pstats prints them."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(limit)
    return out.getvalue()
