"""The read side: status, list, history. Every figure is a maintained counter or one
indexed lookup; nothing here loads a collection's documents or chunks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, select, tuple_
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.models.events import counters, iso
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import collections_t, runs_t, status_events_t
from fileintel.store.liveness import LivenessFacts, gather
from fileintel.store.warnings import StatusWarning, counter_warnings, liveness_warnings


def current_run(conn: Connection, collection: Any) -> Row[tuple[object, ...]] | None:
    """The collection's current run row, or None before its first request."""
    if collection.current_run_id is None:
        return None
    return conn.execute(
        select(runs_t).where(runs_t.c.id == collection.current_run_id)
    ).one_or_none()


def embedding_coverage(chunks_total: int, chunks_embedded: int) -> float:
    """Share of chunks with an embedding, 0–100 (0 when there are no chunks)."""
    if chunks_total == 0:
        return 0.0
    return round(100.0 * chunks_embedded / chunks_total, 2)


def collection_status(
    conn: Connection, collection: Any, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The ``collections status --json`` object for a collection row."""
    run = current_run(conn, collection)
    if now is None:
        now = conn.execute(select(db_now())).scalar_one()
    status = CollectionStatus(collection.status)
    warnings = collect_warnings(conn, collection, run)
    return {
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "status": status.value,
        "status_description": status.description,
        "status_updated_at": iso(collection.status_updated_at),
        "seconds_in_status": round(
            max(0.0, (now - collection.status_updated_at).total_seconds()), 3
        ),
        "status_message": collection.status_message,
        "current_run_id": collection.current_run_id,
        "attempt": run.attempt if run is not None else None,
        "run_status": run.status if run is not None else None,
        "documents": counters(collection),
        "chunks": collection.chunks_total,
        "chunks_embedded": collection.chunks_embedded,
        "embedding_coverage": embedding_coverage(
            collection.chunks_total, collection.chunks_embedded
        ),
        "warnings": [w.as_dict() for w in warnings],
    }


def collect_warnings(
    conn: Connection, collection: Any, run: Any | None, facts: LivenessFacts | None = None
) -> list[StatusWarning]:
    """Every warning that applies to a collection: counters, then liveness."""
    if facts is None:
        facts = gather(conn)
    return counter_warnings(collection, run) + liveness_warnings(collection, facts)


def list_collections(
    conn: Connection,
    *,
    status: CollectionStatus | None = None,
    stuck: bool = False,
    limit: int | None = None,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """``collections list``: one object per collection, with warnings, in creation order;
    ``stuck`` keeps only collections that have at least one warning. ``limit`` and ``after``
    (the id of the last collection of the previous page) read one page."""
    facts = gather(conn)
    result: list[dict[str, Any]] = []
    while True:
        batch = None if limit is None else limit - len(result)
        rows = _collection_rows(conn, status, batch, after)
        result += _listed(conn, rows, facts, stuck)
        if limit is None or not rows or len(result) >= limit or len(rows) < (batch or 0):
            return result
        after = rows[-1].id


def _collection_rows(
    conn: Connection, status: CollectionStatus | None, limit: int | None, after: str | None
) -> list[Row[tuple[object, ...]]]:
    """Collections in (created_at, name) order, after the one whose id is ``after``."""
    c = collections_t.c
    query = select(collections_t).order_by(c.created_at, c.name)
    if status is not None:
        query = query.where(c.status == status.value)
    if after is not None:
        last = collections_t.alias("last")
        cursor = tuple_(
            select(last.c.created_at).where(last.c.id == after).scalar_subquery(),
            select(last.c.name).where(last.c.id == after).scalar_subquery(),
        )
        query = query.where(tuple_(c.created_at, c.name) > cursor)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).all())


def _listed(
    conn: Connection, rows: list[Row[tuple[object, ...]]], facts: LivenessFacts, stuck: bool
) -> list[dict[str, Any]]:
    """The ``collections list`` objects of ``rows``, with the warnings of their runs."""
    run_ids = [r.current_run_id for r in rows if r.current_run_id]
    runs = (
        {r.id: r for r in conn.execute(select(runs_t).where(runs_t.c.id.in_(run_ids)))}
        if run_ids
        else {}
    )
    result = []
    for row in rows:
        run = runs.get(row.current_run_id) if row.current_run_id else None
        warnings = collect_warnings(conn, row, run, facts)
        if stuck and not warnings:
            continue
        result.append(
            {
                "id": row.id,
                "name": row.name,
                "status": row.status,
                "status_updated_at": iso(row.status_updated_at),
                "current_run_id": row.current_run_id,
                "documents": counters(row),
                "warnings": [w.as_dict() for w in warnings],
            }
        )
    return result


def history(conn: Connection, collection_id: str) -> list[dict[str, Any]]:
    """``collections history``: every status change in ``seq`` order."""
    return [
        {k: v for k, v in entry.items() if k != "event_id"}
        for entry in history_after(conn, collection_id, 0)
    ]


def history_after(conn: Connection, collection_id: str, after_seq: int) -> list[dict[str, Any]]:
    """Status changes with ``seq`` above ``after_seq``, in order, each with its ``event_id``."""
    e = status_events_t.c
    rows = conn.execute(
        select(e.event_id, e.seq, e.from_status, e.to_status, e.run_id, e.message, e.actor, e.at)
        .where(e.collection_id == collection_id, e.seq > after_seq)
        .order_by(e.seq)
    )
    return [
        {
            "seq": r.seq,
            "from": r.from_status,
            "to": r.to_status,
            "run_id": r.run_id,
            "message": r.message,
            "actor": r.actor,
            "at": iso(r.at),
            "event_id": r.event_id,
        }
        for r in rows
    ]
