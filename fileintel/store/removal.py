"""Removing documents from a collection, and deleting a collection.

Both are fenced against a run: they lock the collection row first (like every writer) and
refuse while it is ``queued`` or ``processing``, so no worker can finish a document that is
being removed, and no run can start half-way through. A document leaves with its chunks in
the same transaction, so search never finds text of a removed file.

Removing documents is recorded like a status change: a history row ``S → S`` (an
amendment of a resting status, ``states.RESTING_STATUSES``) whose message names what was
removed, and its ``collection.status_changed`` event with ``change: documents_removed``.
Deleting a collection deletes its history with it; the ``collection.deleted`` event in the
outbox (and the Redis Stream) is the record that remains.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.engine import Connection

from fileintel.backends import backend_for
from fileintel.db import db_now
from fileintel.errors import InputError
from fileintel.models import events
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import chunks_t, collections_t, documents_t
from fileintel.store.transitions import transition

#: Documents removed per DELETE statement (keeps the IN list well under every limit).
BATCH = 500
#: How many removed paths the history message names before it says "and N more".
NAMED_IN_MESSAGE = 3


@dataclass(frozen=True)
class Removal:
    """What ``remove_documents`` took out of a collection."""

    collection_name: str
    paths: list[str]
    chunks: int
    seq: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "collection": self.collection_name,
            "removed": self.paths,
            "chunks_removed": self.chunks,
            "seq": self.seq,
        }


def lock_resting_collection(conn: Connection, collection_id: str, doing: str) -> Row[Any]:
    """Lock the collection row; raise InputError unless no run is open (the fence)."""
    c = collections_t.c
    row = conn.execute(select(collections_t).where(c.id == collection_id).with_for_update()).one()
    if row.status in (CollectionStatus.QUEUED, CollectionStatus.PROCESSING):
        raise InputError(
            f"cannot {doing} '{row.name}' while it is {row.status} (run {row.current_run_id}); "
            f"wait for the run to end or 'fileintel collections cancel {row.name}' first"
        )
    return row


def _normalise(raw: str) -> str:
    return str(Path(raw).expanduser().resolve(strict=False))


def documents_under(conn: Connection, collection_id: str, paths: Iterable[str]) -> list[Any]:
    """The collection's documents at or under each given path; InputError naming any
    path that matches none (nothing is removed then)."""
    d = documents_t.c
    stored = conn.execute(
        select(d.id, d.path, d.state, d.chunk_count, d.embedded_count).where(
            d.collection_id == collection_id
        )
    ).all()
    chosen: dict[int, Any] = {}
    unmatched: list[str] = []
    for raw in paths:
        wanted = _normalise(raw)
        prefix = wanted.rstrip(os.sep) + os.sep
        hits = [r for r in stored if r.path == wanted or r.path.startswith(prefix)]
        if not hits:
            unmatched.append(raw)
        chosen.update((r.id, r) for r in hits)
    if unmatched:
        raise InputError(
            "nothing was removed; no document at or under: "
            + ", ".join(unmatched)
            + " (see 'fileintel collections documents')"
        )
    return sorted(chosen.values(), key=lambda r: r.id)


def missing_documents(conn: Connection, collection_id: str) -> list[Any]:
    """The collection's documents whose file is no longer on disk."""
    d = documents_t.c
    rows = conn.execute(
        select(d.id, d.path, d.state, d.chunk_count, d.embedded_count)
        .where(d.collection_id == collection_id)
        .order_by(d.id)
    ).all()
    return [r for r in rows if not os.path.lexists(r.path)]


def _message(paths: Sequence[str], why: str) -> str:
    named = ", ".join(paths[:NAMED_IN_MESSAGE])
    more = len(paths) - NAMED_IN_MESSAGE
    return f"removed {len(paths)} document(s) ({why}): {named}" + (
        f" and {more} more" if more > 0 else ""
    )


def remove_documents(
    conn: Connection, collection: Row[Any], chosen: Sequence[Any], *, why: str, actor: str
) -> Removal:
    """Delete ``chosen`` documents and their chunks, fix the counters, record the change.

    The caller has locked the collection with ``lock_resting_collection`` in this
    transaction. Removing nothing writes nothing.
    """
    if not chosen:
        return Removal(collection.name, [], 0, None)
    ids = [r.id for r in chosen]
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        conn.execute(delete(chunks_t).where(chunks_t.c.document_id.in_(batch)))
        conn.execute(delete(documents_t).where(documents_t.c.id.in_(batch)))
    c = collections_t.c
    values: dict[str, Any] = {
        "documents_total": c.documents_total - len(chosen),
        "chunks_total": c.chunks_total - sum(r.chunk_count for r in chosen),
        "chunks_embedded": c.chunks_embedded - sum(r.embedded_count for r in chosen),
    }
    for state in {r.state for r in chosen}:
        column = f"documents_{state}"
        values[column] = c[column] - sum(1 for r in chosen if r.state == state)
    conn.execute(update(collections_t).where(c.id == collection.id).values(values))
    paths = [r.path for r in chosen]
    change = transition(
        conn,
        collection.id,
        CollectionStatus(collection.status),
        actor=actor,
        message=_message(paths, why),
        run_id=collection.current_run_id,
        expected_version=collection.version,
        amendment={"change": "documents_removed", "documents_removed": len(paths)},
    )
    return Removal(collection.name, paths, sum(r.chunk_count for r in chosen), change.seq)


@dataclass(frozen=True)
class Deletion:
    """What ``delete_collection`` deleted."""

    collection_id: str
    collection_name: str
    documents: int
    chunks: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.collection_id,
            "name": self.collection_name,
            "deleted": True,
            "documents": self.documents,
            "chunks": self.chunks,
        }


def delete_collection(conn: Connection, collection_id: str, *, actor: str) -> Deletion:
    """Delete a resting collection with its runs, documents, chunks and history, leaving a
    ``collection.deleted`` event in the outbox (written first, in the same transaction)."""
    row = lock_resting_collection(conn, collection_id, "delete")
    at = conn.execute(select(db_now())).scalar_one()
    payload = events.collection_deleted(
        collection_id=row.id,
        collection_name=row.name,
        run_id=row.current_run_id,
        last_status=row.status,
        seq=row.last_seq + 1,
        documents=row.documents_total,
        actor=actor,
        at=at,
    )
    backend_for(conn).add_event(conn, events.COLLECTION_DELETED, row.id, payload)
    conn.execute(delete(chunks_t).where(chunks_t.c.collection_id == row.id))
    # runs, documents, status_events and run_notes go by ON DELETE CASCADE
    conn.execute(delete(collections_t).where(collections_t.c.id == row.id))
    return Deletion(row.id, row.name, row.documents_total, row.chunks_total)


def remove_missing(
    conn: Connection, collection_id: str, under: Iterable[str] | None, *, why: str, actor: str
) -> Removal:
    """Remove the documents whose file is gone from disk (only those at or under ``under``
    when given); fenced like every removal, but only when there is something to remove."""
    c = collections_t.c
    name = conn.execute(select(c.name).where(c.id == collection_id)).scalar_one()
    gone = missing_documents(conn, collection_id)
    if under is not None:
        roots = [_normalise(p) for p in under]
        gone = [
            r
            for r in gone
            if any(
                r.path == root or r.path.startswith(root.rstrip(os.sep) + os.sep) for root in roots
            )
        ]
    if not gone:
        return Removal(name, [], 0, None)
    collection = lock_resting_collection(conn, collection_id, "remove documents from")
    return remove_documents(conn, collection, gone, why=why, actor=actor)
