"""Peak resident memory (``VmHWM``) of a process and its children, read from /proc while
they run: a child's high-water mark is read until it exits, so the last reading is its peak."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from benchmarks.common.cpu_meter import process_tree

MB = 1024 * 1024


def _vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def watch_peaks(proc: subprocess.Popen[bytes], interval: float = 0.02) -> dict[int, int]:
    """Wait for ``proc`` to exit; return the peak RSS in bytes of it and each descendant."""
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        for pid in process_tree(proc.pid):
            if (hwm := _vm_hwm(pid)) is not None:
                peaks[pid] = max(peaks.get(pid, 0), hwm)
        time.sleep(interval)
    return peaks
