"""Prometheus metrics for workers, the relay and the scheduler (``--metrics-port``).

Counters that describe database changes (transitions) are counted when the transaction
commits, not when the statement runs, so a rolled-back change is never counted. Gauges
that describe the shared state (outbox backlog, stuck collections) are read from the
database at scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

log = logging.getLogger("fileintel.metrics")

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

_PENDING_KEY = "fileintel_pending_transitions"


def note_transition(conn: Connection, from_status: str | None, to_status: str) -> None:
    """Remember a transition written on ``conn``; it is counted if the transaction commits."""
    conn.info.setdefault(_PENDING_KEY, []).append((from_status or "none", to_status))


def _on_commit(conn: Connection) -> None:
    for from_status, to_status in conn.info.pop(_PENDING_KEY, []):
        TRANSITIONS.labels(from_status, to_status).inc()


def _on_rollback(conn: Connection) -> None:
    conn.info.pop(_PENDING_KEY, None)


def count_commits(engine: Engine) -> None:
    """Make ``engine`` count transitions at commit (idempotent)."""
    if not event.contains(engine, "commit", _on_commit):
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "rollback", _on_rollback)


class DatabaseCollector(Collector):
    """Scrape-time gauges read from the database: backlog, lag, stuck collections."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        from fileintel.db import read_tx
        from fileintel.store.liveness import outbox_facts, stuck_collection_count

        try:
            with read_tx(self.engine) as conn:
                facts = outbox_facts(conn)
                stuck = stuck_collection_count(conn)
        except Exception as e:  # a scrape must not fail because the database is away
            log.warning("metrics: cannot read the database: %s", e)
            return
        yield GaugeMetricFamily(
            "fileintel_outbox_backlog", "Unpublished outbox rows", value=facts.backlog
        )
        yield GaugeMetricFamily(
            "fileintel_outbox_parked", "Outbox rows parked after failing", value=facts.parked
        )
        yield GaugeMetricFamily(
            "fileintel_outbox_lag_seconds",
            "How long the oldest due, unparked outbox row has waited for the relay",
            value=facts.lag_seconds or 0.0,
        )
        yield GaugeMetricFamily(
            "fileintel_stuck_collections",
            "Collections with an expired lease or a status/run mismatch",
            value=stuck,
        )


def serve(port: int, engine: Engine) -> None:
    """Expose /metrics on ``port`` (in a background thread) for this process."""
    count_commits(engine)
    REGISTRY.register(DatabaseCollector(engine))
    start_http_server(port)
    log.info("metrics on :%d/metrics", port)
