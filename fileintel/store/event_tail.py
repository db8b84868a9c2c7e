"""Following the outbox's events by position: what the web server streams as SSE.

An event's position is its outbox id. A reader hands out events in position order and
never passes an id that may still commit: on PostgreSQL ids are drawn before commit, so
id 41 can become visible after 42. A missing id is held until every transaction that was
running when it was first seen missing has ended (the snapshot horizon of
``Backend.tail_outbox``); then it is final: rolled back, or a row deleted. Where ids
become visible in commit order (SQLite) a missing id is final at once.

``events_between`` reads the events of a range already passed, for a client that comes
back with ``Last-Event-ID``: one read per reconnection, not a poll per client.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from fileintel.backends import backend_for
from fileintel.models.tables import OUTBOX_EVENT, outbox_t

log = logging.getLogger("fileintel.event_tail")

#: Rows read per pass (dispatch rows included: they move the position too).
TAIL_BATCH = 1000
#: Events read per round of ``events_between``.
CATCH_UP_BATCH = 1000
#: The longest a missing id holds the reader back. The horizon is the whole server's: a
#: long transaction anywhere (another database too) keeps it low; after this long the id is
#: passed, and should it still commit, its event is not streamed (a reload shows it).
GAP_HOLD_SECONDS = 10.0


@dataclass(frozen=True)
class PositionedEvent:
    """An outbox event and its position (the SSE ``id:``)."""

    position: int
    payload: dict[str, Any]


@dataclass
class _Gap:
    """The first missing id above the position: below ``until`` (the first id seen above
    it), held while a transaction running at ``xmax`` (when first seen) may still commit it."""

    start: int
    until: int
    xmax: int
    seen_at: float = field(default_factory=time.monotonic)


class OutboxTail:
    """Reads outbox events above ``position`` in id order, without skipping one that is
    still to commit. Not thread-safe: one reader per server process calls ``read``."""

    def __init__(self, position: int, *, hold_seconds: float = GAP_HOLD_SECONDS) -> None:
        #: Every id up to here was handed out or is known never to come.
        self.position = position
        self.hold_seconds = hold_seconds
        self._gap: _Gap | None = None

    @classmethod
    def at_end(cls, conn: Connection) -> OutboxTail:
        """A reader that starts after the newest outbox row (events from now on)."""
        tail = backend_for(conn).tail_outbox(conn, 0, 0)
        return cls(tail.top or 0)

    @property
    def waiting(self) -> bool:
        """True while a missing id holds the reader back (read again soon)."""
        return self._gap is not None

    def read(self, conn: Connection, limit: int = TAIL_BATCH) -> list[PositionedEvent]:
        """The events that became readable in order since the last call."""
        tail = backend_for(conn).tail_outbox(conn, self.position, limit)
        if tail.top is not None and tail.top < self.position:
            # Only SQLite reuses ids, after retention deleted every row: start over.
            log.warning("outbox ids restarted below %s; following from 0", self.position)
            self.position, self._gap = 0, None
            return self.read(conn, limit)
        events = []
        for row in tail.rows:
            if row.id > self.position + 1 and not self._passable(row.id, tail.horizon):
                break
            self.position, self._gap = row.id, None
            if row.kind == OUTBOX_EVENT:
                events.append(PositionedEvent(row.id, row.payload))
        return events

    def _passable(self, next_id: int, horizon: tuple[int, int] | None) -> bool:
        """Whether the ids between the position and ``next_id`` are final."""
        if horizon is None:
            return True
        xmin, xmax = horizon
        gap = self._gap
        if gap is None or gap.start != self.position + 1:
            self._gap = _Gap(self.position + 1, next_id, xmax)
            return False
        if xmin < gap.xmax:
            if time.monotonic() - gap.seen_at < self.hold_seconds:
                return False
            log.warning(
                "outbox ids %s-%s still missing after %.0f s (a long transaction?): passed",
                gap.start,
                gap.until - 1,
                self.hold_seconds,
            )
        if next_id <= gap.until:
            return True
        # The row seen above the gap then is gone (retention): judge the rest from now on.
        self.position, self._gap = gap.until, None
        return next_id == self.position + 1 or self._passable(next_id, horizon)


def events_between(
    conn: Connection, after: int, upto: int, collection_id: str | None = None
) -> list[PositionedEvent]:
    """The events with positions in (``after``, ``upto``], in order; only one collection's
    when ``collection_id`` is given (an event's key is its collection's id)."""
    o = outbox_t.c
    found: list[PositionedEvent] = []
    while after < upto:
        query = (
            select(o.id, o.payload)
            .where(o.kind == OUTBOX_EVENT, o.id > after, o.id <= upto)
            .order_by(o.id)
            .limit(CATCH_UP_BATCH)
        )
        if collection_id is not None:
            query = query.where(o.key == collection_id)
        rows = conn.execute(query).all()
        found += [PositionedEvent(r.id, r.payload) for r in rows]
        if len(rows) < CATCH_UP_BATCH:
            break
        after = rows[-1].id
    return found
