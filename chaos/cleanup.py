"""Leaving nothing behind: the resources of this run, and the leftovers of killed runs.

``Cleanup`` collects an undo action for everything the run creates, newest first, and runs
them once: at the end, on SIGTERM/SIGINT/SIGHUP, or at exit. A run killed with SIGKILL
cannot clean up; ``remove_leftovers`` (called when a run starts) removes namespaces, links,
processes and folders whose owning run is gone. Server and process ids are kept in a
``pids`` file in the run's folder for that purpose.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from chaos.naming import PREFIX, alive, owner_pid

log = logging.getLogger("chaos")


class Cleanup:
    """Undo actions, run newest first, exactly once."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], object]]] = []
        self._done = False

    def add(self, what: str, action: Callable[[], object]) -> None:
        self._actions.append((what, action))

    def run(self) -> None:
        if self._done:
            return
        self._done = True
        while self._actions:
            what, action = self._actions.pop()
            try:
                action()
            except Exception as e:  # one failed undo must not stop the others
                log.warning("cleanup of %s failed: %s", what, e)

    def install_handlers(self) -> None:
        """Clean up on exit and on the usual termination signals."""
        atexit.register(self.run)

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.warning("signal %d: cleaning up", signum)
            self.run()
            sys.exit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)


def run_quietly(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a system command, its output captured, failures returned (not raised)."""
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def record_pid(workdir: Path, pid: int) -> None:
    """Remember a process this run started, for a later run's ``remove_leftovers``."""
    with (workdir / "pids").open("a") as f:
        f.write(f"{pid}\n")


#: Set in the environment of every process a run starts: its folder.
MARKER = "FICHAOS_RUN"


def started_by(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` belongs to the run that owns ``folder``: it carries the run's
    marker, or works in its folder (Redis overwrites its environment with its title)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return f"{MARKER}={folder}".encode() in environ.split(b"\0") or cwd.startswith(f"{folder}/")


def remove_leftovers() -> list[str]:
    """Remove what runs no longer alive left behind; return what was removed."""
    removed: list[str] = []
    for line in run_quietly("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        pid = owner_pid(name)
        if name.startswith(PREFIX) and pid is not None and not alive(pid):
            run_quietly("ip", "netns", "delete", name)
            removed.append(f"namespace {name}")
    for line in run_quietly("ip", "-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        pid = owner_pid(name)
        if pid is not None and not alive(pid):
            run_quietly("ip", "link", "delete", name)
            removed.append(f"link {name}")
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*"):
        pid = owner_pid(folder.name)
        if pid is None or alive(pid):
            continue
        pids = folder / "pids"
        if pids.exists():
            for line in pids.read_text().split():
                if started_by(int(line), folder):  # a reused pid is someone else's
                    # Its group (a worker's children) where it leads one, else itself
                    # (the postmaster, whose backends follow it).
                    for kill in (os.killpg, os.kill):
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            kill(int(line), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(f"folder {folder}")
    return removed
