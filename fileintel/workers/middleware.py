"""FileIntel's own Dramatiq middleware: the worker process's heartbeat and its stop signal."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from sqlalchemy import Engine

from fileintel.store.heartbeats import HeartbeatThread


class WorkerHeartbeat(Middleware):
    """Records that this worker process is alive while it runs (``doctor``, warnings)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._beat: HeartbeatThread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        """Start beating once the worker consumes."""
        self._beat = HeartbeatThread(self.engine, "worker").start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        """Stop beating when the worker stops."""
        if self._beat is not None:
            self._beat.stop()
            self._beat = None


#: A second SIGTERM this soon after the first is the same stop, delivered twice.
SIGNAL_BURST_SECONDS = 1.0


class OneStopPerSignalBurst(Middleware):
    """Makes a worker process drain when its whole process group gets SIGTERM.

    A supervisor that stops a process group (systemd's default, honcho, ``kill -- -PGID``)
    signals Dramatiq's parent and its worker processes at once; the parent then forwards the
    signal, and Dramatiq treats that second SIGTERM as "kill now" (exit 1, running documents
    abandoned to their leases). A repeat within ``SIGNAL_BURST_SECONDS`` is ignored, so the
    running documents finish; a later one still kills, as Dramatiq documents.
    """

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        """Wrap the worker process's SIGTERM handler (this hook runs in its main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return
        first: list[float] = []

        def on_term(signum: int, frame: FrameType | None) -> None:
            now = time.monotonic()
            if first and now - first[0] < SIGNAL_BURST_SECONDS:
                return
            first[:] = [now]
            previous(signum, frame)

        signal.signal(signal.SIGTERM, on_term)
