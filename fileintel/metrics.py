"""Prometheus metrics for workers, the relay and the scheduler (``--metrics-port``).

Counters that describe database changes (transitions) are counted when the transaction
commits, not when the statement runs, so a rolled-back change is never counted. The gauges
read from the database at scrape time, and the HTTP endpoint, are in ``metrics_server``.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

from fileintel.backends.commit_hooks import take_transitions

TRANSITIONS = Counter(
    "fileintel_transitions_total",
    "Committed collection status changes",
    ["from_status", "to_status"],
)
SWEEP_DECISIONS = Counter("fileintel_sweeper_decisions_total", "Sweeper decisions", ["decision"])
DOCUMENT_SECONDS = Histogram(
    "fileintel_document_processing_seconds",
    "Time to process one document",
    ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RELAY_PUBLISHED = Counter("fileintel_outbox_published_total", "Outbox rows published", ["kind"])


def _on_commit(conn: Connection) -> None:
    for from_status, to_status in take_transitions(conn.info):
        TRANSITIONS.labels(from_status, to_status).inc()


def _on_rollback(conn: Connection) -> None:
    take_transitions(conn.info)


def count_commits(engine: Engine) -> None:
    """Make ``engine`` count transitions at commit (idempotent)."""
    if not event.contains(engine, "commit", _on_commit):
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "rollback", _on_rollback)
