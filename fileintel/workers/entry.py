"""What ``dramatiq`` loads: the broker from the environment, with the actors declared on it.

``fileintel worker`` runs ``dramatiq fileintel.workers.entry``; the broker comes from
FILEINTEL_BROKER_URL and the database from FILEINTEL_DATABASE_URL, validated at start-up.
"""

from __future__ import annotations

import os
import sys

import dramatiq

from fileintel.config import check_embedder, load_settings
from fileintel.logs import configure_logging
from fileintel.messaging.broker import build_broker
from fileintel.metrics import count_commits
from fileintel.metrics_server import serve
from fileintel.workers import SWITCH_INTERVAL_SECONDS
from fileintel.workers.actors import DocumentWorker, register_actors
from fileintel.workers.middleware import OneStopPerSignalBurst, WorkerHeartbeat

sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
settings = load_settings()
check_embedder(settings.embedder)  # one error at start-up, not one per document
configure_logging(
    settings.log_format, settings.log_level, replace_all=True, secrets=settings.secrets
)
broker = build_broker(settings.broker_url)
worker = DocumentWorker(settings)
register_actors(broker, worker)
broker.add_middleware(WorkerHeartbeat(worker.engine))
broker.add_middleware(OneStopPerSignalBurst())
count_commits(worker.engine)
if os.environ.get("FILEINTEL_METRICS_PORT"):
    serve(int(os.environ["FILEINTEL_METRICS_PORT"]), worker.engine)
dramatiq.set_broker(broker)
