"""The one place that changes a collection's status.

Every status change is a single guarded UPDATE on ``collections``:

- the row must be in a state the state machine allows the target to be reached from,
- optionally its ``version`` must equal what the caller read (compare-and-set),
- for run-scoped writes its ``current_run_id`` must be the caller's run (fencing).

In the caller's transaction the same call writes the ``status_events`` row (next ``seq``)
and the outbox event announcing it, so a status change, its history and its announcement
commit or vanish together (invariants H and O). When the UPDATE matches no row, nothing is
written and a typed error says what was found and what was expected; there is no boolean
for a caller to ignore.

The UPDATE takes the row lock first and the outbox insert comes after it, so for one
collection the outbox ids are allocated in commit order; the relay relies on that to
publish a collection's events in ``seq`` order. The backend writes the three rows
(``Backend.move_collection``: one statement on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from fileintel.backends import CollectionMove, backend_for
from fileintel.backends.commit_hooks import note_transition
from fileintel.db import db_now
from fileintel.errors import ConcurrentUpdate, InvalidTransition, NotFound, StaleRun
from fileintel.models import events
from fileintel.models.events import STATUS_CHANGED, new_event_id
from fileintel.models.states import RESTING_STATUSES, CollectionStatus, allowed_sources
from fileintel.models.tables import collections_t

_UNSET = object()


@dataclass(frozen=True)
class Transition:
    """A committed-with-the-caller status change, as written to history and the outbox."""

    collection_id: str
    collection_name: str
    from_status: CollectionStatus | None
    to_status: CollectionStatus
    seq: int
    version: int
    run_id: str | None
    event_id: str
    message: str | None
    actor: str
    at: dt.datetime


def record_creation(
    conn: Connection,
    *,
    collection_id: str,
    name: str,
    description: str | None,
    actor: str,
) -> Transition:
    """Insert a collection in ``created`` with its first history row (null → created)."""
    at = conn.execute(select(db_now())).scalar_one()
    conn.execute(
        insert(collections_t).values(
            id=collection_id,
            name=name,
            description=description,
            status=CollectionStatus.CREATED.value,
            status_updated_at=at,
            status_message=None,
            previous_status=None,
            version=1,
            last_seq=1,
        )
    )
    event_id = new_event_id()
    message = "collection created"
    backend = backend_for(conn)
    backend.write_history(
        conn,
        {
            "collection_id": collection_id,
            "seq": 1,
            "run_id": None,
            "from_status": None,
            "to_status": CollectionStatus.CREATED.value,
            "message": message,
            "actor": actor,
            "event_id": event_id,
            "at": at,
        },
    )
    payload = events.status_changed(
        event_id=event_id,
        collection_id=collection_id,
        run_id=None,
        to_status=CollectionStatus.CREATED.value,
        message=message,
        actor=actor,
    )
    full = events.with_database_fields(
        payload, collection_name=name, seq=1, from_status=None, at=at
    )
    backend.add_event(conn, STATUS_CHANGED, collection_id, full)
    note_transition(conn, None, CollectionStatus.CREATED.value)
    return Transition(
        collection_id,
        name,
        None,
        CollectionStatus.CREATED,
        1,
        1,
        None,
        event_id,
        message,
        actor,
        at,
    )


def transition(
    conn: Connection,
    collection_id: str,
    target: CollectionStatus,
    *,
    actor: str,
    message: str | None = None,
    run_id: str | None = None,
    fence_run: bool = False,
    expected_version: int | None = None,
    only_from: Iterable[CollectionStatus] | None = None,
    new_run_id: object = _UNSET,
    amendment: dict[str, object] | None = None,
) -> Transition:
    """Move a collection to ``target`` with history and outbox event, or raise.

    ``run_id`` is recorded in the history; with ``fence_run=True`` the move only applies
    while that run is the collection's current run (late writers get ``StaleRun``).
    ``new_run_id`` replaces ``current_run_id`` (used when a run is requested).
    ``only_from`` narrows the state machine's allowed sources further.
    ``amendment`` records a change that keeps a resting status (``target → target``, see
    ``states.RESTING_STATUSES``); its items are added to the event's payload.
    """
    if amendment is not None:
        if target not in RESTING_STATUSES:
            raise ValueError(f"only a resting status can be amended, not {target.value}")
        sources = [target]
    else:
        sources = allowed_sources(target)
    if only_from is not None:
        narrowed = set(only_from)
        sources = [s for s in sources if s in narrowed]
    event_id = new_event_id()
    recorded_run = run_id if new_run_id is _UNSET else (str(new_run_id) if new_run_id else None)
    move = CollectionMove(
        collection_id=collection_id,
        target=target.value,
        sources=[s.value for s in sources],
        expected_version=expected_version,
        fence=fence_run,
        run_id=run_id,
        set_run=new_run_id is not _UNSET,
        new_run_id=None if new_run_id is _UNSET else str(new_run_id) if new_run_id else None,
        recorded_run=recorded_run,
        message=message,
        actor=actor,
        event_id=event_id,
        payload={
            **events.status_changed(
                event_id=event_id,
                collection_id=collection_id,
                run_id=recorded_run,
                to_status=target.value,
                message=message,
                actor=actor,
            ),
            **(amendment or {}),
        },
    )
    row = backend_for(conn).move_collection(conn, move)
    if row is None:
        _raise_for_no_match(
            conn, collection_id, target, sources, run_id, fence_run, expected_version
        )
    note_transition(conn, row.previous_status, target.value)
    return Transition(
        collection_id,
        row.name,
        CollectionStatus(row.previous_status),
        target,
        row.last_seq,
        row.version,
        recorded_run,
        event_id,
        message,
        actor,
        _utc(row.status_updated_at),
    )


def _utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC) if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _raise_for_no_match(
    conn: Connection,
    collection_id: str,
    target: CollectionStatus,
    sources: list[CollectionStatus],
    run_id: str | None,
    fence_run: bool,
    expected_version: int | None,
) -> NoReturn:
    """Explain why the guarded UPDATE matched nothing, as the most specific typed error."""
    c = collections_t.c
    found = conn.execute(
        select(c.status, c.version, c.current_run_id).where(c.id == collection_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"collection {collection_id} does not exist")
    if fence_run and found.current_run_id != run_id:
        raise StaleRun(
            f"collection {collection_id}",
            str(run_id),
            f"the current run is {found.current_run_id}",
        )
    if expected_version is not None and found.version != expected_version:
        raise ConcurrentUpdate(collection_id, expected_version, found.version)
    if found.status not in [s.value for s in sources]:
        raise InvalidTransition(
            collection_id, found.status, target.value, [s.value for s in sources]
        )
    # It matches now, so it did not when we wrote: another transaction moved it in between.
    raise ConcurrentUpdate(collection_id, expected_version or -1, found.version)
