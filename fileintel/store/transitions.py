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

On PostgreSQL the UPDATE takes the row lock first and the outbox insert comes after it, so
for one collection the outbox ids are allocated in commit order; the relay relies on that
to publish a collection's events in ``seq`` order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now, mark_outbox_written
from fileintel.errors import ConcurrentUpdate, InvalidTransition, NotFound, StaleRun
from fileintel.models.states import CollectionStatus, allowed_sources
from fileintel.models.tables import collections_t, status_events_t
from fileintel.store.outbox_rows import add_event, iso, new_event_id

STATUS_CHANGED = "collection.status_changed"

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
    change = Transition(
        collection_id=collection_id,
        collection_name=name,
        from_status=None,
        to_status=CollectionStatus.CREATED,
        seq=1,
        version=1,
        run_id=None,
        event_id=new_event_id(),
        message="collection created",
        actor=actor,
        at=at,
    )
    _write_history_and_event(conn, change)
    return change


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
) -> Transition:
    """Move a collection to ``target`` with history and outbox event, or raise.

    ``run_id`` is recorded in the history; with ``fence_run=True`` the move only applies
    while that run is the collection's current run (late writers get ``StaleRun``).
    ``new_run_id`` replaces ``current_run_id`` (used when a run is requested).
    ``only_from`` narrows the state machine's allowed sources further.
    """
    sources = allowed_sources(target)
    if only_from is not None:
        narrowed = set(only_from)
        sources = [s for s in sources if s in narrowed]
    event_id = new_event_id()
    recorded_run = run_id if new_run_id is _UNSET else (str(new_run_id) if new_run_id else None)
    if conn.dialect.name == "postgresql":
        mark_outbox_written(conn)  # the statement's event row (add_event marks it elsewhere)
        row = conn.exec_driver_sql(
            _PG_TRANSITION,
            {
                "id": collection_id,
                "target": target.value,
                "sources": [s.value for s in sources],
                "expected_version": expected_version,
                "fence": fence_run,
                "run_id": run_id,
                "set_run": new_run_id is not _UNSET,
                "new_run_id": None if new_run_id is _UNSET else new_run_id,
                "recorded_run": recorded_run,
                "message": message,
                "actor": actor,
                "event_id": event_id,
                "topic": STATUS_CHANGED,
            },
        ).one_or_none()
        if row is None:
            _raise_for_no_match(
                conn, collection_id, target, sources, run_id, fence_run, expected_version
            )
        from fileintel.metrics import note_transition

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
            row.status_updated_at.astimezone(dt.UTC),
        )
    c = collections_t.c
    values: dict[str, object] = {
        "status": target.value,
        "previous_status": c.status,
        "status_updated_at": db_now(),
        "status_message": message,
        "version": c.version + 1,
        "last_seq": c.last_seq + 1,
    }
    if new_run_id is not _UNSET:
        values["current_run_id"] = new_run_id
    guard = [c.id == collection_id, c.status.in_([s.value for s in sources])]
    if expected_version is not None:
        guard.append(c.version == expected_version)
    if fence_run:
        guard.append(c.current_run_id == run_id)
    row = conn.execute(
        update(collections_t)
        .where(*guard)
        .values(values)
        .returning(c.name, c.previous_status, c.last_seq, c.version, c.status_updated_at)
    ).one_or_none()
    if row is None:
        _raise_for_no_match(
            conn, collection_id, target, sources, run_id, fence_run, expected_version
        )
    change = Transition(
        collection_id=collection_id,
        collection_name=row.name,
        from_status=CollectionStatus(row.previous_status),
        to_status=target,
        seq=row.last_seq,
        version=row.version,
        run_id=recorded_run,
        event_id=event_id,
        message=message,
        actor=actor,
        at=row.status_updated_at,
    )
    _write_history_and_event(conn, change)
    return change


# On PostgreSQL the guarded UPDATE, the history row and the outbox event are one statement
# (one round trip). The UPDATE takes the collection's row lock before the INSERTs, which
# consume its RETURNING rows, draw their ids, so outbox ids stay in commit order per
# collection. The event payload is the same object ``_write_history_and_event`` builds.
_PG_TRANSITION = """
WITH moved AS (
    UPDATE collections
       SET status = %(target)s, previous_status = status, status_updated_at = clock_timestamp(),
           status_message = %(message)s, version = version + 1, last_seq = last_seq + 1,
           current_run_id = CASE WHEN %(set_run)s THEN %(new_run_id)s ELSE current_run_id END
     WHERE id = %(id)s AND status = ANY(%(sources)s)
       AND (%(expected_version)s::int IS NULL OR version = %(expected_version)s::int)
       AND (NOT %(fence)s OR current_run_id IS NOT DISTINCT FROM %(run_id)s)
 RETURNING id, name, previous_status, last_seq, version, status_updated_at
), history AS (
    INSERT INTO status_events (collection_id, seq, run_id, from_status, to_status, message,
                               actor, event_id, at)
    SELECT id, last_seq, %(recorded_run)s, previous_status, %(target)s, %(message)s,
           %(actor)s, %(event_id)s, status_updated_at FROM moved
), announced AS (
    INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
    SELECT 'event', %(topic)s, id, json_build_object(
               'event_id', %(event_id)s, 'type', %(topic)s, 'collection_id', id,
               'collection_name', name, 'run_id', %(recorded_run)s, 'seq', last_seq,
               'from', previous_status, 'to', %(target)s, 'message', %(message)s,
               'actor', %(actor)s,
               'at', to_char(status_updated_at AT TIME ZONE 'UTC',
                             'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
           clock_timestamp(), clock_timestamp(), 0
      FROM moved
)
SELECT name, previous_status, last_seq, version, status_updated_at FROM moved
"""


def _write_history_and_event(conn: Connection, change: Transition) -> None:
    from fileintel.metrics import note_transition

    note_transition(
        conn, change.from_status.value if change.from_status else None, change.to_status.value
    )
    conn.execute(
        insert(status_events_t).values(
            collection_id=change.collection_id,
            seq=change.seq,
            run_id=change.run_id,
            from_status=change.from_status.value if change.from_status else None,
            to_status=change.to_status.value,
            message=change.message,
            actor=change.actor,
            event_id=change.event_id,
            at=change.at,
        )
    )
    add_event(
        conn,
        STATUS_CHANGED,
        change.collection_id,
        {
            "event_id": change.event_id,
            "type": STATUS_CHANGED,
            "collection_id": change.collection_id,
            "collection_name": change.collection_name,
            "run_id": change.run_id,
            "seq": change.seq,
            "from": change.from_status.value if change.from_status else None,
            "to": change.to_status.value,
            "message": change.message,
            "actor": change.actor,
            "at": iso(change.at),
        },
    )


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
