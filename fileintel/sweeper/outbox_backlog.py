"""The outbox backlog probe: whether "message lost?" may be told from "not sent yet".

Finds the oldest dispatch row that is due, not parked, and still unpublished although it
was written more than the dispatch timeout ago (``ix_outbox_unpublished``, first match
only). While one exists the relay is down or far behind, so the sweeper decides to hold
back the two rules that re-send lost messages (``lost_dispatches`` and the start rule of
``runs``): re-sending would only grow the backlog. It writes nothing, so concurrent sweeps
need no guard here; the rules it holds back carry their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from fileintel.models.tables import outbox_t
from fileintel.store.outbox_rows import DISPATCH


@dataclass(frozen=True)
class UnsentDispatch:
    """A dispatch row the relay has not published."""

    id: int
    topic: str
    created_at: dt.datetime


def unsent_dispatch(
    conn: Connection, now: dt.datetime, created_before: dt.datetime
) -> UnsentDispatch | None:
    """The oldest dispatch row that is due, not parked, and still unpublished although it
    was written before ``created_before``; None while the outbox drains.

    Such a row means the relay is not sending (down, or far behind): a document or a run
    start that looks lost may simply not have been sent yet. Reads the unpublished rows in
    id order (``ix_outbox_unpublished``) and stops at the first match.
    """
    o = outbox_t.c
    row = conn.execute(
        select(o.id, o.topic, o.created_at)
        .where(
            o.published_at.is_(None),
            o.kind == DISPATCH,
            o.parked_at.is_(None),
            o.available_at <= now,
            o.created_at < created_before,
        )
        .order_by(o.id)
        .limit(1)
    ).one_or_none()
    return None if row is None else UnsentDispatch(int(row.id), str(row.topic), row.created_at)


def hold_reason(conn: Connection, now: dt.datetime, created_before: dt.datetime) -> str | None:
    """Why lost-looking messages must not be sent again now, or None when they may."""
    row = unsent_dispatch(conn, now, created_before)
    if row is None:
        return None
    age = (now - row.created_at).total_seconds()
    return (
        f"the outbox is not draining: dispatch row {row.id} ({row.topic}) was written "
        f"{age:.0f} s ago and is still unpublished; messages that look lost may not "
        "have been sent yet"
    )
