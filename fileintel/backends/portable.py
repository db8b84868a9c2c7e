"""Statements in SQLAlchemy Core that every database runs alike, built once with bind parameters.

SQLite runs everything through these; PostgreSQL runs its hot paths as named queries of its
own (``postgresql.sql``) and the rest (renewing and releasing a lease, the sweeper's
counter moves, the history row of a created collection) through these. They are built once
because building a Core statement per call costs more CPU than SQLite takes to run it
(``docs/performance.md``). Parameters are prefixed ``b_`` so that none shares a name with a
column the statement sets.

Every write after the claim is fenced by ``OWNED``: the document must still be processing
for this run and attempt (``fence``), or the statement changes nothing and the caller
raises StaleRun.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Float, Integer, Update, bindparam, delete, exists, insert, select, update
from sqlalchemy.engine import Connection

from fileintel.errors import StaleRun
from fileintel.models.clock import db_now
from fileintel.models.states import CollectionStatus, DocumentState
from fileintel.models.tables import (
    OUTBOX_EVENT,
    chunks_t,
    collections_t,
    documents_t,
    outbox_t,
    runs_t,
    status_events_t,
)

_d, _r = documents_t.c, runs_t.c

#: ``pending → processing`` with a lease of ``b_lease`` seconds, for run ``b_run``'s
#: attempt ``b_attempt`` of document ``b_document``; returns what the worker needs.
CLAIM = (
    update(documents_t)
    .where(
        _d.id == bindparam("b_document"),
        _d.run_id == bindparam("b_run"),
        _d.attempt == bindparam("b_attempt"),
        _d.state == DocumentState.PENDING.value,
    )
    .values(
        state=DocumentState.PROCESSING.value,
        lease_expires_at=db_now(bindparam("b_lease", type_=Float)),
        dispatched_at=None,
    )
    .returning(_d.collection_id, _d.path, _d.media_type, _d.sha256, _d.lease_expires_at)
)

#: What a claim reads besides the document: the run's options and status, the
#: collection's name, and whether the document has chunks from an earlier run.
CLAIM_CONTEXT = select(
    _r.options,
    _r.status,
    select(collections_t.c.name)
    .where(collections_t.c.id == bindparam("b_collection"))
    .scalar_subquery()
    .label("name"),
    exists().where(chunks_t.c.document_id == bindparam("b_document")).label("had_chunks"),
).where(_r.id == bindparam("b_run"))

#: The document, while this run's attempt still owns it (the parameters ``fence`` gives).
OWNED = update(documents_t).where(
    _d.id == bindparam("b_document"),
    _d.run_id == bindparam("b_run"),
    _d.attempt == bindparam("b_attempt"),
    _d.state == DocumentState.PROCESSING.value,
)
_FINISHED = {"lease_expires_at": None, "finished_at": db_now()}

#: ``processing → done`` with the outcome's counts, metadata and what it was computed from.
FINISH_DONE = OWNED.values(
    **_FINISHED,
    state=DocumentState.DONE.value,
    error=None,
    chunk_count=bindparam("b_chunks", type_=Integer),
    embedded_count=bindparam("b_embedded", type_=Integer),
    metadata=bindparam("b_metadata", type_=_d.metadata.type),
    processed_sha256=bindparam("b_sha256", type_=_d.processed_sha256.type),
    processed_options=bindparam("b_options", type_=_d.processed_options.type),
)

#: ``processing → failed`` with the reason; a failed document keeps no chunks, so it
#: counts none.
FINISH_FAILED = OWNED.values(
    **_FINISHED,
    state=DocumentState.FAILED.value,
    error=bindparam("b_error", type_=_d.error.type),
    chunk_count=0,
    embedded_count=0,
)

#: The lease pushed ``b_lease`` seconds forward; returns the new expiry.
RENEW_LEASE = OWNED.values(lease_expires_at=db_now(bindparam("b_lease", type_=Float))).returning(
    _d.lease_expires_at
)

#: The run is alive (a lease was renewed for it).
RUN_HEARTBEAT = update(runs_t).where(_r.id == bindparam("b_run")).values(heartbeat_at=db_now())

#: ``processing → pending`` for the same attempt, dispatched again: the message is retried,
#: and the sweeper resends it if it is lost.
RELEASE = OWNED.values(
    state=DocumentState.PENDING.value, lease_expires_at=None, dispatched_at=db_now()
)


def fence(run_id: str, document_id: int, attempt: int) -> dict[str, Any]:
    """The parameters of ``OWNED``."""
    return {"b_document": document_id, "b_run": run_id, "b_attempt": attempt}


def move_counters(
    conn: Connection,
    collection_id: str,
    run_id: str,
    source: DocumentState,
    target: DocumentState,
    n: int = 1,
    *,
    chunks_delta: int = 0,
    embedded_delta: int = 0,
) -> Any:
    """Move ``n`` documents between state counters on the collection and the run.

    The collection update is fenced (its current run must be ``run_id`` and it must be
    processing) and takes the collection row lock first. Returns the run's counters after
    the move. Raises StaleRun when the fence fails: the caller's transaction must roll back.
    """
    collection_move, run_move = _counter_moves(source, target)
    updated = conn.execute(
        collection_move,
        {
            "b_collection": collection_id,
            "b_run": run_id,
            "b_n": n,
            "b_chunks": chunks_delta,
            "b_embedded": embedded_delta,
        },
    ).rowcount
    if updated != 1:
        raise StaleRun(
            f"collection {collection_id}", run_id, "it is no longer the current, processing run"
        )
    return conn.execute(run_move, {"b_run": run_id, "b_n": n}).one()


@functools.cache
def _counter_moves(source: DocumentState, target: DocumentState) -> tuple[Update, Update]:
    """``move_counters``' two statements for one pair of states, built once."""
    c, r = collections_t.c, runs_t.c
    src, dst = f"documents_{source.value}", f"documents_{target.value}"
    n = bindparam("b_n", type_=Integer)
    collection_move = (
        update(collections_t)
        .where(
            c.id == bindparam("b_collection"),
            c.current_run_id == bindparam("b_run"),
            c.status == CollectionStatus.PROCESSING.value,
        )
        .values(
            {
                src: c[src] - n,
                dst: c[dst] + n,
                "chunks_total": c.chunks_total + bindparam("b_chunks", type_=Integer),
                "chunks_embedded": c.chunks_embedded + bindparam("b_embedded", type_=Integer),
            }
        )
    )
    run_move = (
        update(runs_t)
        .where(r.id == bindparam("b_run"))
        .values({src: r[src] - n, dst: r[dst] + n, "heartbeat_at": db_now()})
        .returning(
            r.documents_total,
            r.documents_pending,
            r.documents_processing,
            r.documents_done,
            r.documents_failed,
            r.documents_skipped,
        )
    )
    return collection_move, run_move


def drop_chunks(conn: Connection, document_id: int) -> tuple[int, int]:
    """Delete a document's chunks; return how many there were and how many had an
    embedding, for the caller to take off the collection's counters."""
    old = conn.execute(_DROP_CHUNKS, {"b_document": document_id}).all()
    return len(old), sum(1 for row in old if row.embedding_dim is not None)


_DROP_CHUNKS = (
    delete(chunks_t)
    .where(chunks_t.c.document_id == bindparam("b_document"))
    .returning(chunks_t.c.embedding_dim)
)

#: One ``status_events`` row (the values are the table's columns).
INSERT_HISTORY = insert(status_events_t)

#: An outbox event row, due now; returns its id.
ADD_EVENT = (
    insert(outbox_t)
    .values(
        kind=OUTBOX_EVENT,
        topic=bindparam("b_topic", type_=outbox_t.c.topic.type),
        key=bindparam("b_key", type_=outbox_t.c.key.type),
        payload=bindparam("b_payload", type_=outbox_t.c.payload.type),
        created_at=db_now(),
        available_at=db_now(),
        attempts=0,
    )
    .returning(outbox_t.c.id)
)
