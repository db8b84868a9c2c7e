"""The embedded mode: worker threads, the relay and the sweeper inside one process.

Used by ``fileintel run`` (long-running) and by ``ingest`` / ``process --wait`` on the
embedded defaults (``stub://`` broker). It is the same design as the Procfile deployment:
the relay publishes this process's committed outbox rows to an in-process broker, whose
worker threads run the same actors; other CLI processes reach it through the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import dramatiq

from fileintel.config import Settings
from fileintel.db import get_engine, on_outbox_commit
from fileintel.messaging.broker import build_broker
from fileintel.outbox.relay import build_relay
from fileintel.store.heartbeats import HeartbeatThread
from fileintel.sweeper.sweep import Sweeper
from fileintel.workers.actors import DocumentWorker, register_actors
from fileintel.workers.middleware import WorkerHeartbeat

log = logging.getLogger("fileintel.runtime")

DEFAULT_WORKER_THREADS = 2


class EmbeddedRuntime:
    """Starts and stops the in-process worker, relay and sweeper together."""

    def __init__(self, settings: Settings, *, worker_threads: int = DEFAULT_WORKER_THREADS):
        self.settings = settings
        self.engine = get_engine(settings.database_url)
        self.broker = build_broker("stub://")
        self.document_worker = DocumentWorker(settings, self.engine)
        register_actors(self.broker, self.document_worker)
        self.broker.add_middleware(WorkerHeartbeat(self.engine))
        self.beats = [HeartbeatThread(self.engine, kind) for kind in ("relay", "scheduler")]
        self.worker = dramatiq.Worker(
            self.broker, worker_threads=worker_threads, worker_timeout=100
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loops: list[tuple[str, Callable[[threading.Event], None]]] = [
            ("relay", self._relay_loop),
            ("sweeper", self._sweeper_loop),
        ]

    def _relay_loop(self, stop: threading.Event) -> None:

        relay = build_relay(self.settings, self.engine, broker=self.broker)
        # Every commit in this process that wrote outbox rows wakes the relay at once: on
        # SQLite there is no NOTIFY, and a message would otherwise wait for the next poll.
        remove = on_outbox_commit(self.engine, relay.wake)
        try:
            relay.run_forever(stop)
        finally:
            remove()

    def _sweeper_loop(self, stop: threading.Event) -> None:
        Sweeper(self.settings, self.engine).run_forever(stop)

    def start(self) -> None:
        """Start worker threads, relay and sweeper."""
        self.worker.start()
        for beat in self.beats:
            beat.start()
        for name, loop in self._loops:
            thread = threading.Thread(target=self._guard, args=(name, loop), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _guard(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        try:
            loop(self._stop)
        except Exception:
            log.exception("embedded %s stopped with an error", name)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting work, let running messages finish, stop the daemons."""
        self._stop.set()
        self.worker.stop(timeout=int(timeout * 1000))
        self.document_worker.close()
        for beat in self.beats:
            beat.stop()
        for thread in self._threads:
            thread.join(timeout)
        self.broker.close()

    def __enter__(self) -> EmbeddedRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
