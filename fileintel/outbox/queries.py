"""Named database operations on the outbox, for the relay, the scheduler and the CLI.

The statements are built once, with bind parameters, so a relay pass spends its time on
rows, not on assembling SQL. A pass is a handful of statements whatever the batch size:
one claim (plus a continuation when ordering held part of it back), one UPDATE marking the
published rows, and one UPDATE per kind of failure when something failed.

The claim and the mark are the backend's statements (``Backend.claim_outbox``,
``Backend.mark_published``); the rules around them — heads of keys only, further rounds
past held-back keys, backoff and parking — are here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from fileintel.backends import backend_for
from fileintel.config import DEFAULT_RELAY_MAX_ATTEMPTS
from fileintel.db import db_now
from fileintel.models.tables import OUTBOX_DISPATCH, OUTBOX_EVENT, outbox_t

#: Backoff after a failed publish: 1 s, 2 s, 4 s ... capped at 5 minutes.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
DEFAULT_MAX_ATTEMPTS = DEFAULT_RELAY_MAX_ATTEMPTS
#: A claim whose rows were held back for ordering tries further ids this many times.
CLAIM_ROUNDS = 3
ERROR_CHARS = 2_000

_o = outbox_t.c
ALL_KINDS: tuple[str, ...] = (OUTBOX_EVENT, OUTBOX_DISPATCH)


@dataclass(frozen=True)
class Batch:
    """What the relay claimed: rows to publish now (id order), how many it held back, the time."""

    rows: list[Any] = field(default_factory=list)
    held: int = 0
    now: dt.datetime | None = None


@dataclass(frozen=True)
class Failure:
    """A row that failed to publish on its own: its id, attempts before this one, the error."""

    row_id: int
    attempts: int
    error: str


_BACK_OFF = (
    update(outbox_t)
    .where(_o.id == bindparam("row_id"))
    .values(
        attempts=bindparam("tried"),
        last_error=bindparam("error"),
        available_at=db_now(bindparam("delay")),
    )
)
_PARK = (
    update(outbox_t)
    .where(_o.id == bindparam("row_id"))
    .values(attempts=bindparam("tried"), last_error=bindparam("error"), parked_at=db_now())
)


def claim_batch(
    conn: Connection, limit: int, kinds: Iterable[str] = ALL_KINDS, *, begin: bool = False
) -> Batch:
    """Lock up to ``limit`` due rows that are the head of their key, in id order.

    With ``begin`` (in a backend's ``hot_tx``) the claim opens the transaction.
    """
    kinds = list(kinds)
    if not kinds:
        return Batch()
    backend = backend_for(conn)
    rows = backend.claim_outbox(conn, limit, kinds, 0, [], begin=begin)
    if not rows:
        return Batch()
    now = rows[0].now
    kept, held = _heads(rows)
    seen = {r.key for r in rows}
    rounds = 1
    # Held-back rows fill the batch without being published: look further, past their
    # keys, so one blocked collection never starves the others.
    while held and len(rows) == limit and len(kept) < limit and rounds < CLAIM_ROUNDS:
        rounds += 1
        rows = backend.claim_outbox(conn, limit, kinds, rows[-1].id, sorted(seen), begin=False)
        more, more_held = _heads(rows)
        kept += more
        held += more_held
        seen.update(r.key for r in rows)
    return Batch(kept, held, now)


def _heads(rows: Sequence[Any]) -> tuple[list[Any], int]:
    kept = [r for r in rows if r.blocker is None or r.id < r.blocker]
    return kept, len(rows) - len(kept)


def mark_published(conn: Connection, ids: Sequence[int], *, commit: bool = False) -> None:
    """Set ``published_at`` on these rows (retention deletes them later).

    With ``commit`` (in a backend's ``hot_tx``) the transaction commits in the same round
    trip; nothing may be written in it afterwards.
    """
    if ids:
        backend_for(conn).mark_published(conn, ids, commit=commit)


def backoff_seconds(tried: int) -> float:
    """How long a row waits after its ``tried``-th failed attempt (exponential, capped)."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, tried - 1))


def record_failures(conn: Connection, failures: Sequence[Failure], max_attempts: int) -> int:
    """Count an attempt on each failed row: back off, or park it at ``max_attempts``."""
    back_off: list[dict[str, Any]] = []
    park: list[dict[str, Any]] = []
    for f in failures:
        tried = f.attempts + 1
        params = {"row_id": f.row_id, "tried": tried, "error": f.error[:ERROR_CHARS]}
        if tried >= max_attempts:
            park.append(params)
        else:
            back_off.append({**params, "delay": backoff_seconds(tried)})
    if back_off:
        conn.execute(_BACK_OFF, back_off)
    if park:
        conn.execute(_PARK, park)
    return len(park)


def lag_seconds(rows: Sequence[Any], now: dt.datetime | None) -> float:
    """Age of the oldest of these rows at ``now`` (database clock), 0 when there are none."""
    if not rows or now is None:
        return 0.0
    return max(0.0, (now - min(r.created_at for r in rows)).total_seconds())


def has_due(conn: Connection, kind: str) -> bool:
    """Whether an unpublished, unparked row of ``kind`` is due: a read, so an idle poller
    looks without taking SQLite's write lock (``ix_outbox_unpublished``)."""
    row = conn.execute(
        select(_o.id)
        .where(
            _o.published_at.is_(None),
            _o.parked_at.is_(None),
            _o.kind == kind,
            _o.available_at <= db_now(),
        )
        .limit(1)
    ).first()
    return row is not None
