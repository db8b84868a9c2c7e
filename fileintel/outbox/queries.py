"""Named database operations on the outbox, for the relay, the scheduler and the CLI."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, and_, delete, func, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now, write_tx
from fileintel.models.tables import outbox_t

#: Backoff after a failed publish: 1 s, 2 s, 4 s ... capped at 5 minutes.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
DEFAULT_MAX_ATTEMPTS = 10
PURGE_BATCH = 5_000

_o = outbox_t.c
_UNPUBLISHED = and_(_o.published_at.is_(None), _o.parked_at.is_(None))


def claim_batch(conn: Connection, limit: int) -> list[Any]:
    """Due, unpublished rows in id order, locked for this transaction, each key's in order.

    On PostgreSQL rows locked by another relay are skipped (SKIP LOCKED). A row is kept only
    if every older unpublished row of its key is kept too, so when another relay holds (or
    backoff delays) a key's older row, this relay leaves that key alone this pass.
    """
    query = (
        select(_o.id, _o.kind, _o.topic, _o.key, _o.payload, _o.attempts, _o.created_at)
        .where(_UNPUBLISHED, _o.available_at <= db_now())
        .order_by(_o.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(conn.execute(query))
    if not rows:
        return rows
    return _keep_key_prefixes(conn, rows)


def _keep_key_prefixes(conn: Connection, rows: list[Any]) -> list[Any]:
    claimed: dict[str, list[int]] = {}
    for row in rows:
        claimed.setdefault(row.key, []).append(row.id)
    ordered = [k for k in claimed if not k.startswith("dispatch:")]
    if not ordered:
        return rows
    ranked = (
        select(
            _o.key, _o.id, func.row_number().over(partition_by=_o.key, order_by=_o.id).label("rn")
        )
        .where(_UNPUBLISHED, _o.key.in_(ordered))
        .subquery()
    )
    head: dict[str, list[int]] = {}
    for key, row_id in conn.execute(
        select(ranked.c.key, ranked.c.id).where(ranked.c.rn <= len(rows)).order_by(ranked.c.id)
    ):
        head.setdefault(key, []).append(row_id)
    allowed: set[int] = set()
    for key, ids in claimed.items():
        if key not in head:
            allowed.update(ids)
            continue
        for mine, oldest in zip(ids, head[key], strict=False):
            if mine != oldest:
                break
            allowed.add(mine)
    return [r for r in rows if r.id in allowed]


def mark_published(conn: Connection, ids: list[int]) -> None:
    """Mark rows as published (retention deletes them later)."""
    if ids:
        conn.execute(update(outbox_t).where(_o.id.in_(ids)).values(published_at=db_now()))


def record_failures(
    conn: Connection, failures: dict[int, tuple[int, str]], max_attempts: int
) -> int:
    """Count a failed attempt per row (id → (attempts so far, error)); park exhausted rows.

    Returns how many rows were parked.
    """
    parked = 0
    for row_id, (attempts, error) in failures.items():
        tried = attempts + 1
        values: dict[str, Any] = {"attempts": tried, "last_error": error[:2000]}
        if tried >= max_attempts:
            values["parked_at"] = db_now()
            parked += 1
        else:
            delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (tried - 1))
            values["available_at"] = db_now(delay)
        conn.execute(update(outbox_t).where(_o.id == row_id).values(values))
    return parked


def defer(conn: Connection, ids: list[int], seconds: float, error: str) -> None:
    """Push rows back without counting an attempt (their sink is down, not the rows)."""
    if ids:
        conn.execute(
            update(outbox_t)
            .where(_o.id.in_(ids))
            .values(available_at=db_now(seconds), last_error=error[:2000])
        )


def retry_parked(conn: Connection) -> int:
    """Put parked rows back in line with fresh attempts; return how many."""
    return int(
        conn.execute(
            update(outbox_t)
            .where(_o.published_at.is_(None), _o.parked_at.is_not(None))
            .values(parked_at=None, attempts=0, available_at=db_now())
        ).rowcount
    )


def purge_published(engine: Engine, older_than_seconds: float, batch: int = PURGE_BATCH) -> int:
    """Delete published rows older than the given age, in batches; return how many."""
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


def outbox_status(conn: Connection) -> dict[str, Any]:
    """``outbox status``: backlog, oldest unpublished age, parked rows, recent throughput."""
    from fileintel.store.liveness import outbox_facts

    facts = outbox_facts(conn)
    parked_rows = conn.execute(
        select(_o.id, _o.topic, _o.key, _o.attempts, _o.last_error)
        .where(_o.published_at.is_(None), _o.parked_at.is_not(None))
        .order_by(_o.id)
        .limit(20)
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


def lag_seconds(rows: list[Any], now: dt.datetime) -> float:
    """Age of the oldest row of a batch when it was published."""
    if not rows:
        return 0.0
    return max(0.0, (now - min(r.created_at for r in rows)).total_seconds())
