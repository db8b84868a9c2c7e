"""An embedded worker process: ``python -m fileintel.embedded.child`` (started by ``supervisor``).

It reads its settings as one JSON line on stdin and then keeps stdin open: the other end
is held by the parent only, so end-of-file means the parent is gone, and the process exits
at once (whatever it held is the next runtime's to recover, ``sweeper.orphans``). SIGTERM
stops it cleanly: no new messages, running documents finish (up to the stop timeout), the
heartbeat row is deleted. SIGINT is ignored: Ctrl-C in a terminal reaches the whole process
group, and the parent decides how its workers stop.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import Retries

from fileintel.config import Settings
from fileintel.db import get_engine
from fileintel.embedded.feed import DispatchFeed, InFlight
from fileintel.logs import configure_logging
from fileintel.messaging.broker import build_broker
from fileintel.workers import SWITCH_INTERVAL_SECONDS
from fileintel.workers.actors import DocumentWorker, register_actors
from fileintel.workers.middleware import WorkerHeartbeat

log = logging.getLogger("fileintel.worker")

#: Exit code of a worker process whose parent went away.
ORPHANED_EXIT_CODE = 75
#: How long a stopping worker process lets running documents finish.
STOP_TIMEOUT_SECONDS = 20.0


def settings_line(settings: Settings) -> bytes:
    """What the parent writes on the child's stdin (passwords never on a command line)."""
    return (json.dumps(asdict(settings), default=str) + "\n").encode()


def _watch_parent() -> None:
    """Exit as soon as stdin reaches end-of-file: the parent died."""
    while os.read(sys.stdin.fileno(), 4096):
        pass
    os._exit(ORPHANED_EXIT_CODE)


def serve(settings: Settings, threads: int) -> None:
    """Consume the outbox's dispatch rows with ``threads`` threads until SIGTERM."""
    engine = get_engine(settings.database_url)
    broker = build_broker("stub://")
    in_flight = InFlight()
    broker.add_middleware(in_flight, before=Retries)
    document_worker = DocumentWorker(settings, engine)
    register_actors(broker, document_worker)
    broker.add_middleware(WorkerHeartbeat(engine))
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    feed = DispatchFeed(engine, broker, in_flight, capacity=2 * threads)
    worker.start()
    feeding = threading.Thread(target=feed.run, args=(stop,), name="feed", daemon=True)
    feeding.start()
    while not stop.wait(0.5):
        pass
    feeding.join()
    worker.stop(timeout=int(STOP_TIMEOUT_SECONDS * 1000))
    document_worker.close()
    broker.close()


def main() -> None:
    """Entry point: settings from stdin, then serve."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    raw: dict[str, Any] = json.loads(sys.stdin.readline())
    settings = Settings(**{**raw, "index_dir": Path(raw["index_dir"])})
    configure_logging(settings.log_format, settings.log_level, secrets=settings.secrets)
    threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()
    serve(settings, threads)


if __name__ == "__main__":
    main()
