"""What ``dramatiq`` loads: the broker from the environment, with the actors declared on it.

``fileintel worker`` runs ``dramatiq fileintel.workers.entry``; the broker comes from
FILEINTEL_BROKER_URL and the database from FILEINTEL_DATABASE_URL, validated at start-up.
"""

from __future__ import annotations

import os
import sys

import dramatiq

from fileintel.config import load_settings
from fileintel.logs import configure_logging
from fileintel.metrics import count_commits, serve
from fileintel.workers.actors import DocumentWorker, register_actors
from fileintel.workers.broker import build_broker
from fileintel.workers.middleware import WorkerHeartbeat

#: The interpreter's thread switch interval in a worker process, in seconds. At Python's
#: 5 ms a worker thread running the pipeline hands the GIL over whenever one of Dramatiq's
#: consumer threads wakes up to poll Redis (about 175 times a second per process in the
#: processing benchmark), and every hand-over costs both threads CPU and cache. At 50 ms
#: the pipeline runs on and a consumer gets the GIL when the worker thread next waits (at
#: every database round trip): an acknowledgement or a prefetch waits a few milliseconds
#: more. Measured A/B, six alternations over two runs: worker CPU per document -4%,
#: documents/s +5% (docs/performance.md). Worker threads that all compute share the GIL
#: in slices this long.
SWITCH_INTERVAL_SECONDS = 0.05

sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
settings = load_settings()
configure_logging(
    settings.log_format, settings.log_level, replace_all=True, secrets=settings.secrets
)
broker = build_broker(settings.broker_url)
worker = DocumentWorker(settings)
register_actors(broker, worker)
broker.add_middleware(WorkerHeartbeat(worker.engine))
count_commits(worker.engine)
if os.environ.get("FILEINTEL_METRICS_PORT"):
    serve(int(os.environ["FILEINTEL_METRICS_PORT"]), worker.engine)
dramatiq.set_broker(broker)
