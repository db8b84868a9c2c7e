"""The two ways the transition benchmark makes one move: FileIntel's ``transition()`` and the
same three statements as raw psycopg2 SQL (guarded UPDATE, history row, outbox event).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg2

from benchmarks.common.databases import psycopg_dsn
from benchmarks.transitions.pool import SOURCES
from fileintel.db import make_engine, write_tx
from fileintel.models.events import STATUS_CHANGED, iso
from fileintel.models.states import CollectionStatus
from fileintel.store.transitions import transition

# --- the two ways of making one move ------------------------------------------------------


class FileIntelMover:
    """One move = ``transition()`` in ``write_tx`` (guarded UPDATE, history, outbox)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        with self.engine.connect():  # open the pooled connection before timing starts
            pass

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        with write_tx(self.engine) as conn:
            change = transition(
                conn,
                collection_id,
                target,
                actor="bench",
                message=f"bench: {target.value}",
                expected_version=version,
            )
        return change.version

    def close(self) -> None:
        self.engine.dispose()


RAW_UPDATE = """
UPDATE collections
   SET status = %(to)s, previous_status = status, status_updated_at = clock_timestamp(),
       status_message = %(message)s, version = version + 1, last_seq = last_seq + 1
 WHERE id = %(id)s AND status IN %(sources)s AND version = %(version)s
RETURNING name, previous_status, last_seq, version, status_updated_at
"""
RAW_HISTORY = """
INSERT INTO status_events
       (collection_id, seq, run_id, from_status, to_status, message, actor, event_id, at)
VALUES (%s, %s, NULL, %s, %s, %s, 'bench', %s, %s)
"""
RAW_OUTBOX = """
INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
VALUES ('event', %s, %s, %s, clock_timestamp(), clock_timestamp(), 0)
RETURNING id
"""


def event_payload(
    event_id: str,
    collection_id: str,
    name: str,
    seq: int,
    previous: str,
    to: str,
    message: str,
    at: Any,
) -> dict[str, Any]:
    """The outbox payload transition() writes for a status change."""
    return {
        "event_id": event_id,
        "type": STATUS_CHANGED,
        "collection_id": collection_id,
        "collection_name": name,
        "run_id": None,
        "seq": seq,
        "from": previous,
        "to": to,
        "message": message,
        "actor": "bench",
        "at": iso(at),
    }


class RawMover:
    """One move = the same three statements as plain SQL on a psycopg2 connection."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg2.connect(psycopg_dsn(url))

    def move(self, collection_id: str, target: CollectionStatus, version: int) -> int:
        message = f"bench: {target.value}"
        with self.conn.cursor() as cur:
            cur.execute(
                RAW_UPDATE,
                {
                    "to": target.value,
                    "message": message,
                    "id": collection_id,
                    "sources": SOURCES[target],
                    "version": version,
                },
            )
            row = cur.fetchone()
            if row is None:
                self.conn.rollback()
                raise RuntimeError(f"collection {collection_id} did not move to {target}")
            name, previous, seq, new_version, at = row
            event_id = str(uuid.uuid4())
            cur.execute(
                RAW_HISTORY, (collection_id, seq, previous, target.value, message, event_id, at)
            )
            payload = event_payload(
                event_id, collection_id, name, seq, previous, target.value, message, at
            )
            cur.execute(RAW_OUTBOX, (STATUS_CHANGED, collection_id, json.dumps(payload)))
            cur.fetchone()
        self.conn.commit()
        return int(new_version)

    def close(self) -> None:
        self.conn.close()
