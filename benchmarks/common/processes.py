"""FileIntel's own commands as child processes of a benchmark: started on a clean
environment, tied to the benchmark's life, stopped with their children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

FILEINTEL = str(Path(sys.executable).parent / "fileintel")


def fileintel_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its ``FILEINTEL_*`` settings, plus ``settings``.

    The caller's shell may point FileIntel at another database or broker; a child must see
    only what the benchmark sets.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEINTEL_")}
    env.update(settings)
    return env


def _die_with_parent() -> None:
    """Linux: SIGTERM the child when the benchmark dies, so no worker is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_fileintel(
    args: list[str], env: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``fileintel ARGS`` in a session of its own; its output appended to ``log``, or
    discarded without one."""
    with open(os.devnull if log is None else log, "ab") as out:
        return subprocess.Popen(
            [FILEINTEL, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def stop_fileintel(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
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
