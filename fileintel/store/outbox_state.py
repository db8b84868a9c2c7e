"""The outbox seen from outside the relay: its state for ``outbox status``, parked rows put
back in line, and the retention that deletes published rows (run by the scheduler)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now, write_tx
from fileintel.models.tables import outbox_t
from fileintel.store.liveness import outbox_facts

PURGE_BATCH = 5_000
PARKED_ROWS_SHOWN = 20

_o = outbox_t.c


def outbox_status(conn: Connection) -> dict[str, Any]:
    """``outbox status``: backlog, oldest unpublished age, parked rows, recent throughput."""
    facts = outbox_facts(conn)
    parked_rows = conn.execute(
        select(_o.id, _o.topic, _o.key, _o.attempts, _o.last_error)
        .where(_o.published_at.is_(None), _o.parked_at.is_not(None))
        .order_by(_o.id)
        .limit(PARKED_ROWS_SHOWN)
    ).all()
    recent = conn.execute(select(func.count()).where(_o.published_at >= db_now(-60))).scalar_one()
    by_topic = conn.execute(
        select(_o.topic, func.count()).where(_o.published_at.is_(None)).group_by(_o.topic)
    ).all()
    return {
        "backlog": facts.backlog,
        "oldest_unpublished_seconds": (
            round(facts.oldest_seconds, 3) if facts.oldest_seconds is not None else None
        ),
        "parked": facts.parked,
        "parked_rows": [
            {
                "id": r.id,
                "topic": r.topic,
                "key": r.key,
                "attempts": r.attempts,
                "last_error": r.last_error,
            }
            for r in parked_rows
        ],
        "published_last_minute": int(recent),
        "by_topic": {topic: int(n) for topic, n in by_topic},
    }


def retry_parked(conn: Connection) -> int:
    """Put parked rows back in line with fresh attempts, due now; return how many."""
    return int(
        conn.execute(
            update(outbox_t)
            .where(_o.published_at.is_(None), _o.parked_at.is_not(None))
            .values(parked_at=None, attempts=0, available_at=db_now())
        ).rowcount
    )


def purge_published(engine: Engine, older_than_seconds: float, batch: int = PURGE_BATCH) -> int:
    """Delete rows published more than ``older_than_seconds`` ago, in batches; return count."""
    total = 0
    while True:
        with write_tx(engine) as conn:
            ids = (
                select(_o.id)
                .where(_o.published_at.is_not(None), _o.published_at < db_now(-older_than_seconds))
                .limit(batch)
                .scalar_subquery()
            )
            deleted = int(conn.execute(delete(outbox_t).where(_o.id.in_(ids))).rowcount)
        total += deleted
        if deleted < batch:
            return total
