"""FileIntel's own Dramatiq middleware: the worker process's heartbeat."""

from __future__ import annotations

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
