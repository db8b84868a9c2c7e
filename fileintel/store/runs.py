"""Requesting processing (a new run) and reading runs.

A request is one transaction: the collection moves to ``queued`` (guarded, so concurrent
requests cannot both win), the run row is created, the run's documents are reset to
``pending``, and the ``start_run`` message is written to the outbox for the relay to send.
Nothing reaches the broker unless all of that committed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.engine import Connection

from fileintel.config import parse_embedder
from fileintel.db import db_now
from fileintel.errors import AlreadyProcessing, InputError, NotFound, StateError
from fileintel.messaging import RUNS_QUEUE, START_RUN_ACTOR
from fileintel.models.events import counters, iso
from fileintel.models.states import CollectionStatus, DocumentState, RunStatus
from fileintel.models.tables import collections_t, documents_t, runs_t
from fileintel.store.collections import as_uuid
from fileintel.store.embeddings import newest_model
from fileintel.store.outbox_rows import add_dispatch
from fileintel.store.transitions import Transition, transition

PROCESS = "process"
RETRY = "retry"
#: A run that embeds the stored chunks again with another model (``store/reembed.py``).
REEMBED = "reembed"


def request_processing(
    conn: Connection,
    collection_id: str,
    *,
    options: dict[str, Any],
    kind: str = PROCESS,
    actor: str = "cli",
    deadline_seconds: float | None = None,
    default_embedder: str | None = None,
) -> str:
    """Queue a new run of a collection; return the run id (the task id users see).

    ``kind='process'`` takes every document; ``kind='retry'`` only those that failed;
    ``kind='reembed'`` every document, embedding its stored chunks again. Unless the
    options name an ``embedder``, a run embeds with the collection's model (a collection
    keeps its model until a reembed), or ``default_embedder`` for a collection without
    embeddings.
    Raises AlreadyProcessing when a run is queued or processing, InputError when there is
    nothing to process.
    """
    c = collections_t.c
    found = conn.execute(
        select(
            c.name,
            c.status,
            c.version,
            c.current_run_id,
            c.documents_total,
            c.documents_failed,
            c.documents_done,
            c.documents_skipped,
        ).where(c.id == collection_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"collection {collection_id} does not exist")
    if found.status in (CollectionStatus.QUEUED, CollectionStatus.PROCESSING):
        raise AlreadyProcessing(collection_id, found.name, found.status, found.current_run_id)
    count = {
        RETRY: found.documents_failed,
        REEMBED: found.documents_done + found.documents_skipped,
    }.get(kind, found.documents_total)
    if count == 0 and kind == RETRY and found.documents_total > 0:
        raise InputError(
            f"collection '{found.name}' has no failed documents to retry; to process its "
            f"documents run 'fileintel collections process {found.name}'"
        )
    if count == 0:
        what = "no processed documents to re-embed" if kind == REEMBED else "no documents"
        raise InputError(
            f"collection '{found.name}' has {what}; add files with "
            f"'fileintel collections add {found.name} PATH...'"
        )
    if options.get("embeddings", True) and "embedder" not in options and default_embedder:
        stored = newest_model(conn, collection_id)
        options = {**options, "embedder": stored[0] if stored else default_embedder}
    if options.get("embedder"):
        # One spelling (the stored model name): ``wordllama`` and the name its chunks carry
        # are the same options, or no unchanged document would ever be skipped.
        options = {**options, "embedder": _model_name(options["embedder"])}
    run_id = str(uuid.uuid4())
    try:
        change = transition(
            conn,
            collection_id,
            CollectionStatus.QUEUED,
            actor=actor,
            expected_version=found.version,
            new_run_id=run_id,
            message=f"{kind} requested for {count} document{'s' if count != 1 else ''}",
        )
    except StateError as e:
        # Someone else queued it between our read and our write.
        again = conn.execute(select(c.status, c.current_run_id).where(c.id == collection_id)).one()
        raise AlreadyProcessing(
            collection_id, found.name, again.status, again.current_run_id
        ) from e
    _create_run(conn, change, run_id, kind, count, options, deadline_seconds)
    _reset_documents(conn, collection_id, run_id, kind)
    add_dispatch(conn, queue_name=RUNS_QUEUE, actor_name=START_RUN_ACTOR, args=[run_id])
    return run_id


def _create_run(
    conn: Connection,
    change: Transition,
    run_id: str,
    kind: str,
    count: int,
    options: dict[str, Any],
    deadline_seconds: float | None,
) -> None:
    r = runs_t.c
    attempt = conn.execute(
        select(func.coalesce(func.max(r.attempt), 0) + 1).where(
            r.collection_id == change.collection_id
        )
    ).scalar_one()
    conn.execute(
        insert(runs_t).values(
            id=run_id,
            collection_id=change.collection_id,
            attempt=attempt,
            kind=kind,
            status=RunStatus.QUEUED.value,
            options=options,
            requested_at=change.at,
            heartbeat_at=change.at,
            deadline_at=db_now(deadline_seconds) if deadline_seconds else None,
            documents_total=count,
            documents_pending=count,
            documents_processing=0,
            documents_done=0,
            documents_failed=0,
            documents_skipped=0,
        )
    )


def _reset_documents(conn: Connection, collection_id: str, run_id: str, kind: str) -> None:
    """Hand the run's documents to it, all pending, and move the collection's counters."""
    d = documents_t.c
    query = update(documents_t).where(d.collection_id == collection_id)
    if kind == RETRY:
        query = query.where(d.state == DocumentState.FAILED.value)
    elif kind == REEMBED:  # failed documents have no chunks to embed: they stay failed
        query = query.where(d.state.in_([DocumentState.DONE.value, DocumentState.SKIPPED.value]))
    conn.execute(
        query.values(
            state=DocumentState.PENDING.value,
            run_id=run_id,
            attempt=0,
            lost_leases=0,
            error=None,
            dispatched_at=None,
            lease_expires_at=None,
        )
    )
    c = collections_t.c
    if kind == RETRY:
        values: dict[str, Any] = {
            "documents_pending": c.documents_pending + c.documents_failed,
            "documents_failed": 0,
        }
    elif kind == REEMBED:
        values = {
            "documents_pending": c.documents_done + c.documents_skipped,
            "documents_processing": 0,
            "documents_done": 0,
            "documents_skipped": 0,
        }
    else:
        values = {
            "documents_pending": c.documents_total,
            "documents_processing": 0,
            "documents_done": 0,
            "documents_failed": 0,
            "documents_skipped": 0,
        }
    conn.execute(update(collections_t).where(c.id == collection_id).values(values))


def get_run(conn: Connection, run_id: str) -> Row[tuple[object, ...]]:
    """The run with this id; NotFound names it and says where to look."""
    wanted = as_uuid(run_id) or run_id.strip()  # ids are case-insensitive
    row = conn.execute(select(runs_t).where(runs_t.c.id == wanted)).one_or_none()
    if row is None:
        raise NotFound(
            f"no run with id '{run_id}'; a collection's runs are listed by "
            "'fileintel collections history NAME'"
        )
    return row


def run_view(conn: Connection, run_id: str) -> dict[str, Any]:
    """Everything ``runs show`` prints: which collection this task is for and what it is doing."""
    run = get_run(conn, run_id)
    c = collections_t.c
    coll = conn.execute(
        select(c.name, c.status, c.current_run_id).where(c.id == run.collection_id)
    ).one()
    return {
        "id": run.id,
        "run_id": run.id,  # the key process, ingest and status use for it
        "collection_id": run.collection_id,
        "collection_name": coll.name,
        "collection_status": coll.status,
        "is_current": coll.current_run_id == run.id,
        "status": run.status,
        "kind": run.kind,
        "attempt": run.attempt,
        "options": run.options,
        "requested_at": iso(run.requested_at),
        "started_at": iso(run.started_at) if run.started_at else None,
        "finished_at": iso(run.finished_at) if run.finished_at else None,
        "heartbeat_at": iso(run.heartbeat_at) if run.heartbeat_at else None,
        "error": run.error,
        "documents": counters(run),
    }


def runs_of(conn: Connection, collection_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """A collection's newest runs first: id, kind, attempt, status, times, counters."""
    r = runs_t.c
    rows = conn.execute(
        select(runs_t)
        .where(r.collection_id == collection_id)
        .order_by(r.requested_at.desc(), r.attempt.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": run.id,
            "kind": run.kind,
            "attempt": run.attempt,
            "status": run.status,
            "requested_at": iso(run.requested_at),
            "finished_at": iso(run.finished_at) if run.finished_at else None,
            "error": run.error,
            "documents": counters(run),
        }
        for run in rows
    ]


def _model_name(embedder: str) -> str:
    try:
        return parse_embedder(embedder).model_name
    except ValueError as e:
        raise InputError(f"embedder: {e}") from None
