"""The embedded mode: worker processes, the relay and the sweeper, started by one command.

Used by ``fileintel run`` (long-running) and by ``ingest`` / ``process --wait`` on the
embedded defaults (``stub://`` broker). It is the same design as the Procfile deployment:
every piece of work is an outbox dispatch row; the worker processes (``embedded.child``,
one per CPU by default) take those rows themselves (``embedded.feed``) and run the same
actors; this process publishes events and sweeps. Other CLI processes reach it through the
database.

**One runtime per database.** A runtime holds the database's ``embedded`` lock (an
``flock`` beside the SQLite file, an advisory lock on PostgreSQL) for as long as it lives;
a second one is refused (``EmbeddedBusy``). So when a runtime starts, no process that could
hold a message or a lease of this mode is alive, and it recovers their work at once
(``sweeper.orphans``) instead of waiting for the dispatch timeout or the leases.

``processes=0`` runs the worker threads inside this process instead (tests that inject
faults into this process's code; a machine where starting processes is not wanted).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import dramatiq

from fileintel.config import Settings, mask_url
from fileintel.db import get_engine, on_outbox_commit
from fileintel.embedded.supervisor import Supervisor
from fileintel.errors import EmbeddedBusy
from fileintel.messaging.broker import build_broker
from fileintel.models.tables import OUTBOX_DISPATCH, OUTBOX_EVENT
from fileintel.outbox.relay import build_relay
from fileintel.store.heartbeats import HeartbeatThread
from fileintel.sweeper.leader import LeaderLock
from fileintel.sweeper.orphans import recover_orphans
from fileintel.sweeper.sweep import Sweeper
from fileintel.workers.actors import DocumentWorker, register_actors
from fileintel.workers.middleware import WorkerHeartbeat

log = logging.getLogger("fileintel.runtime")

DEFAULT_WORKER_THREADS = 2
#: The name of the lock that makes a runtime the only one on its database.
EMBEDDED_LOCK = "embedded"


def default_processes() -> int:
    """One worker process per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class EmbeddedRuntime:
    """Starts and stops the worker processes (or threads), relay and sweeper together."""

    def __init__(
        self,
        settings: Settings,
        *,
        processes: int = 0,
        worker_threads: int = DEFAULT_WORKER_THREADS,
    ):
        self.settings = settings
        self.engine = get_engine(settings.database_url)
        self.processes = processes
        self.lock = LeaderLock(self.engine, EMBEDDED_LOCK)
        self.broker = build_broker("stub://")
        self.beats = [HeartbeatThread(self.engine, kind) for kind in ("relay", "scheduler")]
        self.document_worker: DocumentWorker | None = None
        self.worker: dramatiq.Worker | None = None
        self.supervisor: Supervisor | None = None
        if processes:
            self.supervisor = Supervisor(settings, processes, worker_threads, self._worker_died)
        else:
            self.document_worker = DocumentWorker(settings, self.engine)
            register_actors(self.broker, self.document_worker)
            self.broker.add_middleware(WorkerHeartbeat(self.engine))
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
        # With worker processes they take the dispatch rows themselves (``embedded.feed``).
        kinds = (OUTBOX_EVENT,) if self.supervisor else (OUTBOX_EVENT, OUTBOX_DISPATCH)
        relay = build_relay(self.settings, self.engine, broker=self.broker, kinds=kinds)
        # Every commit in this process that wrote outbox rows wakes the relay at once: on
        # SQLite there is no NOTIFY, and a message would otherwise wait for the next poll.
        remove = on_outbox_commit(self.engine, relay.wake)
        try:
            relay.run_forever(stop)
        finally:
            remove()

    def _sweeper_loop(self, stop: threading.Event) -> None:
        Sweeper(self.settings, self.engine).run_forever(stop)

    def _worker_died(self, pid: int, code: int) -> None:
        """The messages a dead worker process held are lost: send them again now. Its
        leases cannot be told from the live processes' and run out as usual."""
        recover_orphans(self.engine, self.settings.max_document_attempts, leases=False)

    def start(self) -> None:
        """Take the database's embedded lock, recover what a previous runtime left, start."""
        if not self.lock.try_acquire():
            raise EmbeddedBusy(
                f"FileIntel's embedded mode already runs on {mask_url(self.settings.database_url)}"
                " (another 'fileintel run' or 'ingest'); let it do the work, or stop it first"
            )
        try:
            recover_orphans(self.engine, self.settings.max_document_attempts, leases=True)
            if self.supervisor is not None:
                self.supervisor.start()
            if self.worker is not None:
                self.worker.start()
        except BaseException:
            self.lock.release()
            raise
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
        """Stop taking work, let running documents finish, stop the daemons, unlock."""
        self._stop.set()
        if self.supervisor is not None:
            self.supervisor.stop(timeout)
        if self.worker is not None:
            self.worker.stop(timeout=int(timeout * 1000))
        if self.document_worker is not None:
            self.document_worker.close()
        for beat in self.beats:
            beat.stop()
        for thread in self._threads:
            thread.join(timeout)
        self.broker.close()
        self.lock.release()

    def __enter__(self) -> EmbeddedRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
