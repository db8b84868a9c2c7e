"""Sampling the processing benchmark's worker and relay processes with py-spy.

``--profile`` records each process tree with ``py-spy record --idle`` (wall time, waits
included) and sums the samples per activity, by the functions on the stack.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PROFILE_CATEGORIES = (
    ("process_file (", "pipeline: extract, chunk, embed, metadata"),
    (".commit (", "commit (WAL flush)"),
    ("_checkout (", "connection checkout"),
    ("copy_chunks (", "finish: chunks (COPY)"),
    ("finalize_run (", "finish: close the run"),
    ("commit_outcome (", "finish: outcome, counters, event"),
    ("take_document (", "claim"),
    ("release_claim (", "lease: give back"),
    ("LeaseKeeper.", "lease: hold / release"),
)


RELAY_CATEGORIES = (
    ("Wakeup.wait (", "waiting for NOTIFY / poll"),
    ("_keep_key_prefixes (", "claim: per-key order query"),
    ("claim_batch (", "claim: SELECT ... FOR UPDATE SKIP LOCKED"),
    (".publish (", "publish (broker enqueue / events)"),
    ("mark_published (", "mark published"),
    (".commit (", "commit"),
    ("run_once (", "pass: other"),
)


def _shares(raw: Path, category: Callable[[str], str | None]) -> dict[str, float]:
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


def summarise_relay_profile(raw: Path) -> dict[str, float]:
    """Share of the relay's main-thread time per activity (py-spy --idle samples)."""

    def category(stack: str) -> str | None:
        if "run_forever (" not in stack:
            return None
        return next((n for m, n in RELAY_CATEGORIES if m in stack), "loop: other")

    return _shares(raw, category)


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


def summarise_profile(raw: Path) -> dict[str, float]:
    """Share of the Dramatiq worker threads' wall time per activity (py-spy --idle samples)."""

    def category(stack: str) -> str | None:
        if "WorkerThread.run (" not in stack:
            return None
        if "process_message (" not in stack:
            return "idle: waiting for a message"
        return next(
            (name for marker, name in PROFILE_CATEGORIES if marker in stack),
            "actor + Dramatiq overhead",
        )

    return _shares(raw, category)
