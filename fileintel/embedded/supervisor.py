"""The embedded runtime's worker processes: started, watched, replaced, stopped.

Each is ``python -m fileintel.embedded.child THREADS`` with the settings on its stdin
(``child``). A worker process that dies while the runtime runs (killed, out of memory) is
reported to ``on_death`` (the runtime re-dispatches the messages it held) and replaced; one
that keeps dying young is restarted after a growing pause, so a crash loop does not spin.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from fileintel.config import Settings
from fileintel.embedded.child import STOP_TIMEOUT_SECONDS, settings_line

log = logging.getLogger("fileintel.runtime")

#: How often the supervisor looks at its worker processes.
WATCH_SECONDS = 0.2
#: A worker process that dies sooner than this after its start counts towards a crash loop.
YOUNG_SECONDS = 5.0
RESTART_MAX_PAUSE_SECONDS = 30.0


class WorkerProcess:
    """One worker process and when it started."""

    def __init__(self, settings: Settings, threads: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fileintel.embedded.child", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        self.started = time.monotonic()
        assert self.proc.stdin is not None
        self.proc.stdin.write(settings_line(settings))
        self.proc.stdin.flush()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def terminate(self) -> None:
        """Ask it to stop cleanly (SIGTERM)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()

    def wait(self, timeout: float) -> int:
        """Wait for it to exit; SIGKILL after ``timeout``; return its exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("worker process %d did not stop in %.0f s; killed", self.pid, timeout)
            self.proc.kill()
            code = self.proc.wait()
        self.close()
        return code

    def close(self) -> None:
        """Close our end of its stdin (were it still running, it would exit)."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


class Supervisor:
    """Keeps ``processes`` worker processes of ``threads`` threads running until stopped."""

    def __init__(
        self,
        settings: Settings,
        processes: int,
        threads: int,
        on_death: Callable[[int, int], None],
    ):
        self.settings = settings
        self.processes, self.threads = processes, threads
        self.on_death = on_death
        self.workers: list[WorkerProcess] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._young_deaths = 0

    def start(self) -> None:
        """Start the worker processes and the thread that watches them."""
        self.workers = [WorkerProcess(self.settings, self.threads) for _ in range(self.processes)]
        self._thread.start()

    def pids(self) -> list[int]:
        """The worker processes' ids (tests, benchmarks)."""
        return [w.pid for w in self.workers]

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            for i, worker in enumerate(list(self.workers)):
                code = worker.proc.poll()
                if code is None or self._stop.is_set():
                    continue
                worker.close()
                lived = time.monotonic() - worker.started
                log.warning(
                    "worker process %d exited with code %d after %.0f s; its documents are "
                    "recovered and a new worker process starts",
                    worker.pid,
                    code,
                    lived,
                )
                try:
                    self.on_death(worker.pid, code)
                except Exception:
                    log.exception("recovering the work of worker process %d failed", worker.pid)
                self._young_deaths = self._young_deaths + 1 if lived < YOUNG_SECONDS else 0
                if self._young_deaths > 1:
                    pause = min(RESTART_MAX_PAUSE_SECONDS, 2.0 ** (self._young_deaths - 1))
                    if self._stop.wait(pause):
                        return
                self.workers[i] = WorkerProcess(self.settings, self.threads)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS + 5) -> None:
        """Stop every worker process cleanly (running documents finish), then the watcher."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for worker in self.workers:
            worker.terminate()
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.wait(max(0.1, deadline - time.monotonic()))
