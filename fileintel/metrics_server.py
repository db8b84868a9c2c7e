"""Prometheus's ``/metrics`` for a FileIntel process (``--metrics-port``): the counters of
``fileintel.metrics`` and gauges read from the database at scrape time (outbox backlog and
lag, stuck collections)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from fileintel.db import read_tx
from fileintel.metrics import count_commits
from fileintel.store.liveness import outbox_facts, stuck_collection_count

log = logging.getLogger("fileintel.metrics")


class DatabaseCollector(Collector):
    """Scrape-time gauges read from the database: backlog, lag, stuck collections."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[Any]:
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
