"""Liveness facts behind the "stuck" warnings and ``doctor``: expired leases, outbox lag,
silent workers. Each is one indexed query, gathered once per command."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection

from fileintel.backends import backend_for
from fileintel.db import db_now
from fileintel.models.states import CollectionStatus, DocumentState, RunStatus
from fileintel.models.tables import collections_t, documents_t, outbox_t, runs_t
from fileintel.store.heartbeats import seen_recently


def document_run_is_processing() -> Any:
    """Only documents of runs still processing: a cancelled run's leftovers are not work."""
    r = runs_t.c
    return exists().where(r.id == documents_t.c.run_id, r.status == RunStatus.PROCESSING.value)


#: The outbox is "not draining" when its oldest due row waits longer than this.
OUTBOX_LAG_WARNING_SECONDS = 30.0


@dataclass(frozen=True)
class OutboxFacts:
    """The outbox as the relay sees it.

    ``oldest_seconds`` is the age of the oldest unpublished row, parked ones included (what
    ``outbox status`` reports); ``lag_seconds`` is how long the oldest row the relay should
    be publishing (due, not parked) has been due: the figure behind "not draining", which a
    parked row, set aside until someone retries it, must not inflate.
    """

    backlog: int
    parked: int
    oldest_seconds: float | None
    lag_seconds: float | None = None


def outbox_facts(conn: Connection) -> OutboxFacts:
    """Backlog (parked included), parked count, oldest unpublished age, and the relay's lag."""
    o = outbox_t.c
    row = conn.execute(
        select(
            func.count(),
            func.count(o.parked_at),
            func.min(o.created_at),
            func.min(o.available_at).filter(o.parked_at.is_(None)),
            db_now(),
        ).where(o.published_at.is_(None))
    ).one()
    now = row[4]
    return OutboxFacts(int(row[0]), int(row[1]), _age(row[2], now), _age(row[3], now))


def _age(at: Any, now: dt.datetime) -> float | None:
    if at is None:
        return None
    when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (now - when).total_seconds())


def expired_leases_by_collection(conn: Connection) -> dict[str, tuple[int, float]]:
    """Per collection: (documents whose lease expired, seconds since the oldest expired)."""
    d = documents_t.c
    now = conn.execute(select(db_now())).scalar_one()
    rows = conn.execute(
        select(d.collection_id, func.count(), func.min(d.lease_expires_at))
        .where(
            d.state == DocumentState.PROCESSING.value,
            d.lease_expires_at < db_now(),
            document_run_is_processing(),
        )
        .group_by(d.collection_id)
    )
    result = {}
    for collection_id, count, oldest in rows:
        if not isinstance(oldest, dt.datetime):
            oldest = dt.datetime.fromisoformat(oldest).replace(tzinfo=dt.UTC)
        result[collection_id] = (int(count), (now - oldest).total_seconds())
    return result


#: Pending documents dispatched this long ago and not claimed, while none of their
#: collection's documents is being processed, mean nothing is moving: warn within seconds
#: (the sweeper only re-sends them after the dispatch timeout).
UNCLAIMED_WARNING_SECONDS = 10.0


def unclaimed_by_collection(conn: Connection) -> dict[str, tuple[int, float]]:
    """Per collection: (pending documents dispatched more than UNCLAIMED_WARNING_SECONDS
    ago and never claimed, seconds since the oldest was dispatched); the partial index
    ``ix_documents_dispatched_pending`` keeps this to the documents waiting."""
    d = documents_t.c
    now = conn.execute(select(db_now())).scalar_one()
    rows = conn.execute(
        select(d.collection_id, func.count(), func.min(d.dispatched_at))
        .where(
            d.state == DocumentState.PENDING.value,
            d.dispatched_at.is_not(None),
            d.dispatched_at < now - dt.timedelta(seconds=UNCLAIMED_WARNING_SECONDS),
            document_run_is_processing(),
        )
        .group_by(d.collection_id)
    )
    return {cid: (int(count), _age(oldest, now) or 0.0) for cid, count, oldest in rows}


def stuck_collection_count(conn: Connection) -> int:
    """Collections with expired leases, or open whose run is closed (or the reverse)."""
    expired = set(expired_leases_by_collection(conn))
    c, r = collections_t.c, runs_t.c
    open_states = [CollectionStatus.QUEUED.value, CollectionStatus.PROCESSING.value]
    mismatched = (
        conn.execute(
            select(c.id)
            .join(runs_t, r.id == c.current_run_id)
            .where(c.status.in_(open_states) != r.status.in_(open_states))
        )
        .scalars()
        .all()
    )
    return len(expired | set(mismatched))


@dataclass(frozen=True)
class LivenessFacts:
    """Everything the liveness warnings need, read once."""

    expired: dict[str, tuple[int, float]]
    outbox: OutboxFacts
    workers_seen: int
    relays_seen: int
    schedulers_seen: int
    now: dt.datetime
    unclaimed: dict[str, tuple[int, float]] = field(default_factory=dict)
    storage: str | None = None


def gather(conn: Connection) -> LivenessFacts:
    """Read the liveness facts in a handful of indexed queries."""

    return LivenessFacts(
        expired=expired_leases_by_collection(conn),
        outbox=outbox_facts(conn),
        workers_seen=len(seen_recently(conn, "worker")),
        relays_seen=len(seen_recently(conn, "relay")),
        schedulers_seen=len(seen_recently(conn, "scheduler")),
        now=conn.execute(select(db_now())).scalar_one(),
        unclaimed=unclaimed_by_collection(conn),
        storage=backend_for(conn).storage_problem(conn),
    )


def open_collection(collection: Any) -> bool:
    """True while a collection waits for or undergoes processing."""
    return collection.status in (CollectionStatus.QUEUED, CollectionStatus.PROCESSING)
