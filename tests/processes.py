"""``fileintel`` as a subprocess, shared by the suites that run the real processes.

Each suite keeps its own way of starting and stopping long-running processes (the
processing suite lets ``fileintel worker`` stop its own children; the sweeper suite
kills whole process groups on purpose); what runs a command to completion, and the last
resort of both (SIGKILL to a whole process group), are here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

FILEINTEL = str(Path(sys.executable).parent / "fileintel")


def cli_env(
    database_url: str, broker_url: str = "stub://", extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a ``fileintel`` subprocess: this database, this broker, no more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEINTEL_")}
    env.update(
        {
            "FILEINTEL_DATABASE_URL": database_url,
            "FILEINTEL_BROKER_URL": broker_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def run_cli(
    args: Iterable[str], env: Mapping[str, str], *, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``fileintel ARGS`` to completion and return its exit code and output."""
    return subprocess.run(
        [FILEINTEL, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def kill_group(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL the process's whole group (e.g. a worker's dramatiq parent and its children)
    and return the process's exit code."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(10)
