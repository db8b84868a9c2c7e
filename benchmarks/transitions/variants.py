"""Candidate ways of making ``transition()`` cheaper, timed with ``--variants``: the same
SQLAlchemy statements built once with bind parameters (``prebuilt``), and the three writes as
one data-modifying statement, one round trip (``cte``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, create_engine, insert, update

from benchmarks.transitions.movers import FileIntelMover, event_payload
from benchmarks.transitions.pool import SOURCES
from fileintel.db import db_now, write_tx
from fileintel.models.events import STATUS_CHANGED
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import collections_t, outbox_t, status_events_t

# --- candidate improvements (``--variants``): what a faster transition() could do --------

_c = collections_t.c
PREBUILT_UPDATE = (
    update(collections_t)
    .where(
        _c.id == bindparam("cid"),
        _c.status.in_(bindparam("sources", expanding=True)),
        _c.version == bindparam("expected"),
    )
    .values(
        status=bindparam("target"),
        previous_status=_c.status,
        status_updated_at=db_now(),
        status_message=bindparam("msg"),
        version=_c.version + 1,
        last_seq=_c.last_seq + 1,
    )
    .returning(_c.name, _c.previous_status, _c.last_seq, _c.version, _c.status_updated_at)
)
PREBUILT_HISTORY = insert(status_events_t)
PREBUILT_OUTBOX = insert(outbox_t).values(created_at=db_now(), available_at=db_now())


class _UnpingedMover(FileIntelMover):
    """``transition()``'s caller on an engine of its own without ``pool_pre_ping``: both
    variants leave out the ping, so they differ from ``fileintel`` only in their statements."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=5)
        with self.engine.connect():  # open the pooled connection before timing starts
            pass


class PrebuiltMover(_UnpingedMover):
    """The same three SQLAlchemy statements, built once with bind parameters (their cache
    keys are memoised), on an engine without ``pool_pre_ping``."""

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        message = f"bench: {target.value}"
        with write_tx(self.engine) as conn:
            row = conn.execute(
                PREBUILT_UPDATE,
                {
                    "cid": collection_id,
                    "sources": list(SOURCES[target]),
                    "expected": version,
                    "target": target.value,
                    "msg": message,
                },
            ).one()
            event_id = str(uuid.uuid4())
            conn.execute(
                PREBUILT_HISTORY,
                {
                    "collection_id": collection_id,
                    "seq": row.last_seq,
                    "run_id": None,
                    "from_status": row.previous_status,
                    "to_status": target.value,
                    "message": message,
                    "actor": "bench",
                    "event_id": event_id,
                    "at": row.status_updated_at,
                },
            )
            conn.execute(
                PREBUILT_OUTBOX,
                {
                    "kind": "event",
                    "topic": STATUS_CHANGED,
                    "key": collection_id,
                    "attempts": 0,
                    "payload": event_payload(
                        event_id,
                        collection_id,
                        row.name,
                        row.last_seq,
                        row.previous_status,
                        target.value,
                        message,
                        row.status_updated_at,
                    ),
                },
            )
        return int(row.version)


CTE_MOVE = """
WITH moved AS (
  UPDATE collections
     SET status = %(to)s, previous_status = status, status_updated_at = clock_timestamp(),
         status_message = %(message)s, version = version + 1, last_seq = last_seq + 1
   WHERE id = %(id)s AND status IN %(sources)s AND version = %(version)s
  RETURNING id, name, previous_status, last_seq, version, status_updated_at
), history AS (
  INSERT INTO status_events
         (collection_id, seq, run_id, from_status, to_status, message, actor, event_id, at)
  SELECT id, last_seq, NULL, previous_status, %(to)s, %(message)s, 'bench', %(event_id)s,
         status_updated_at
    FROM moved
), event AS (
  INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
  SELECT 'event', 'collection.status_changed', id,
         json_build_object(
           'event_id', %(event_id)s::text, 'type', 'collection.status_changed',
           'collection_id', id, 'collection_name', name, 'run_id', NULL, 'seq', last_seq,
           'from', previous_status, 'to', %(to)s::text, 'message', %(message)s::text,
           'actor', 'bench',
           'at', to_char(status_updated_at AT TIME ZONE 'UTC',
                         'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
         clock_timestamp(), clock_timestamp(), 0
    FROM moved
)
SELECT version FROM moved
"""


class CteMover(_UnpingedMover):
    """The whole move as one data-modifying statement (PostgreSQL), through SQLAlchemy's
    ``exec_driver_sql`` on an engine without ``pool_pre_ping``: one round trip, not three."""

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        with write_tx(self.engine) as conn:
            new_version = conn.exec_driver_sql(
                CTE_MOVE,
                {
                    "to": target.value,
                    "message": f"bench: {target.value}",
                    "id": collection_id,
                    "sources": SOURCES[target],
                    "version": version,
                    "event_id": str(uuid.uuid4()),
                },
            ).scalar_one()
        return int(new_version)
