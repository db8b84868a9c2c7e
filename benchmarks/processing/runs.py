"""The processing benchmark's runs: a mode's result, registering a corpus, timing a run.

Shared by every mode of ``benchmarks.processing``: the corpus is registered as a
collection (not timed), processing is requested as ``collections process`` does, and the
run is timed until the collection reaches a terminal status.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

RUN_TIMEOUT_SECONDS = 1800.0


@dataclass
class Measurement:
    """One mode's result."""

    mode: str
    documents: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    #: CPU seconds used by the mode's own processes (PostgreSQL and Redis included).
    cpu_seconds: float = 0.0
    #: CPU seconds used by the whole machine meanwhile (other work shows up here).
    machine_cpu_seconds: float = 0.0
    #: The wall time over which the CPU was metered, when it is not ``seconds`` (a run is
    #: timed by the database's clock, and metered until the benchmark saw it finished).
    metered_seconds: float | None = None

    @property
    def cpu_ms_per_document(self) -> float:
        """Own CPU per document: the cost that does not depend on what else runs."""
        return 1000.0 * self.cpu_seconds / self.documents

    @property
    def machine_busy(self) -> float:
        """Share of the machine's CPU capacity in use during the measurement (0–1)."""
        capacity = (self.metered_seconds or self.seconds) * (os.cpu_count() or 1)
        return self.machine_cpu_seconds / capacity if capacity else 0.0

    @property
    def rate(self) -> float:
        """Documents per second."""
        return self.documents / self.seconds if self.seconds > 0 else float("inf")


def register(engine: Engine, name: str, paths: Sequence[Path]) -> str:
    """Create collection ``name`` holding ``paths`` (not timed); return its id."""
    from fileintel.db import write_tx
    from fileintel.store.collections import create_collection
    from fileintel.store.documents import register_documents, scan_paths

    facts = scan_paths([str(p) for p in paths]).files
    with write_tx(engine) as conn:
        collection_id = create_collection(conn, name, actor="benchmark")
        register_documents(conn, collection_id, facts)
    return collection_id


@dataclass(frozen=True)
class RunTiming:
    """A timed run: its id, its seconds, its terminal status, the status polls it took and
    the wall time until the benchmark saw that status."""

    run_id: str
    seconds: float
    status: str
    polls: int
    waited: float


POLL_SECONDS = 0.1


def request_run(engine: Engine, collection_id: str) -> str:
    """Request processing of the collection with the defaults (as ``collections process``)."""
    from fileintel.commands.processing import run_options
    from fileintel.db import write_tx
    from fileintel.store.runs import request_processing

    with write_tx(engine) as conn:
        return request_processing(
            conn, collection_id, options=run_options(False, False, False), actor="benchmark"
        )


def timed_run(
    engine: Engine, collection_id: str, daemons: Sequence[subprocess.Popen[bytes]] = ()
) -> RunTiming:
    """Request processing (as ``collections process`` does) and wait for a terminal status.

    The run's seconds are from its request to its finish as the database recorded them
    (``runs.requested_at`` and ``finished_at``, one clock), not the poller's view, which
    adds up to a poll interval. Stops with an error as soon as one of ``daemons`` (the
    worker, the relay) has exited.
    """
    from fileintel.db import read_tx
    from fileintel.models.states import CollectionStatus
    from fileintel.models.tables import collections_t

    started = time.perf_counter()
    run_id = request_run(engine, collection_id)
    deadline = started + RUN_TIMEOUT_SECONDS
    c = collections_t.c
    polls = 0
    while True:
        with read_tx(engine) as conn:
            status = conn.execute(select(c.status).where(c.id == collection_id)).scalar_one()
        polls += 1
        if CollectionStatus(status).is_terminal:
            waited = time.perf_counter() - started
            return RunTiming(
                run_id, _recorded_seconds(engine, run_id) or waited, status, polls, waited
            )
        if time.perf_counter() > deadline:
            raise RuntimeError(f"run {run_id} is still {status} after {RUN_TIMEOUT_SECONDS} s")
        dead = [str(p.args) for p in daemons if p.poll() is not None]
        if dead:
            raise RuntimeError(f"run {run_id} is {status} and these exited: {dead}; see logs")
        time.sleep(POLL_SECONDS)


def _recorded_seconds(engine: Engine, run_id: str) -> float | None:
    """From the run's request to its finish, by the database's timestamps."""
    from fileintel.db import read_tx
    from fileintel.models.tables import runs_t

    r = runs_t.c
    with read_tx(engine) as conn:
        row = conn.execute(select(r.requested_at, r.finished_at).where(r.id == run_id)).one()
    if row.finished_at is None:
        return None
    return float((row.finished_at - row.requested_at).total_seconds())


def run_facts(engine: Engine, run_id: str) -> dict[str, Any]:
    """Where a run's time went, from the database: start latency, relay lag, finish spread."""
    from fileintel.db import read_tx
    from fileintel.models.tables import documents_t, outbox_t, runs_t

    r, d, o = runs_t.c, documents_t.c, outbox_t.c
    with read_tx(engine) as conn:
        run = conn.execute(select(runs_t).where(r.id == run_id)).one()
        first_done, last_done = conn.execute(
            select(func.min(d.finished_at), func.max(d.finished_at)).where(d.run_id == run_id)
        ).one()
        rows = conn.execute(
            select(o.kind, o.created_at, o.published_at).where(
                o.created_at >= run.requested_at, o.published_at.is_not(None)
            )
        ).all()
    lags = sorted((x.published_at - x.created_at).total_seconds() for x in rows)
    return {
        "status": run.status,
        "start_latency_s": (run.started_at - run.requested_at).total_seconds(),
        "first_document_s": (first_done - run.requested_at).total_seconds(),
        "last_document_s": (last_done - run.requested_at).total_seconds(),
        "outbox_rows": len(rows),
        "relay_lag_median_s": lags[len(lags) // 2] if lags else None,
        "relay_lag_max_s": lags[-1] if lags else None,
        "done": run.documents_done,
        "failed": run.documents_failed,
    }
