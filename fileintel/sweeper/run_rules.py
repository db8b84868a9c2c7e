"""The sweeper's database operations on runs: find runs that need a decision, and decide.

Two queries find them:

- ``runs_needing_attention`` (every pass): the run rules (past the deadline, queued without
  a start for the dispatch timeout, processing with every document finished). Each ``OR``
  branch implies the predicate of one partial index on ``runs`` (migration 0002), so
  PostgreSQL reads them with a ``BitmapOr`` of three small indexes, and the collection is
  joined by primary key for the runs found only: a pass that finds nothing reads a few
  index pages however many runs exist.
- ``runs_disagreeing`` (the audit, on a slower cadence): runs whose open/closed state
  disagrees with their collection's. Every writer changes a run and its collection in one
  transaction, so this only catches bugs and hand edits; comparing two tables, it cannot
  use an index and reads the open side of both.

``recover_run`` decides for one run found by either, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, case, not_, or_, select, union_all, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.messaging import RUNS_QUEUE, START_RUN_ACTOR
from fileintel.models.states import CollectionStatus, RunStatus
from fileintel.models.tables import collections_t, runs_t
from fileintel.store.lifecycle import fail_run, finalize_run, run_is_finished
from fileintel.store.outbox_rows import add_dispatch
from fileintel.store.transitions import transition
from fileintel.sweeper.document_rules import ACTOR, add_note

OPEN_RUN = [RunStatus.QUEUED.value, RunStatus.PROCESSING.value]
OPEN_COLLECTION = [CollectionStatus.QUEUED.value, CollectionStatus.PROCESSING.value]


def _run_columns() -> list[Any]:
    """What ``recover_run`` needs of a run and its collection."""
    r, c = runs_t.c, collections_t.c
    return [
        r.id,
        r.collection_id,
        r.status,
        r.deadline_at,
        r.heartbeat_at,
        r.requested_at,
        r.documents_total,
        r.documents_done,
        r.documents_failed,
        r.documents_skipped,
        c.status.label("collection_status"),
    ]


def runs_needing_attention(
    conn: Connection, now: dt.datetime, start_timeout: dt.datetime | None
) -> list[Row[Any]]:
    """Current runs past their deadline, queued without a start since before
    ``start_timeout``, or processing with every document finished.

    ``start_timeout`` None leaves the queued rule out (the relay is not sending, so a start
    that looks lost may not have been sent yet). Each branch implies one partial index's
    predicate: ``ix_runs_open_deadline``, ``ix_runs_queued_heartbeat``,
    ``ix_runs_finished_open``.
    """
    r, c = runs_t.c, collections_t.c
    # "Processing with every document finished" as documents left while processing <= 0:
    # the form of the index predicate and of PostgreSQL's statistics on it (migration 0002).
    left = r.documents_total - r.documents_done - r.documents_failed - r.documents_skipped
    left_while_processing = case((r.status == RunStatus.PROCESSING.value, left))
    rules = [
        r.status.in_(OPEN_RUN) & (r.deadline_at < now),
        left_while_processing <= 0,
    ]
    if start_timeout is not None:
        rules.append((r.status == RunStatus.QUEUED.value) & (r.heartbeat_at < start_timeout))
    return list(
        conn.execute(
            select(*_run_columns())
            .select_from(runs_t)
            .join(collections_t, (c.id == r.collection_id) & (c.current_run_id == r.id))
            .where(or_(*rules))
        )
    )


def runs_disagreeing(conn: Connection) -> list[Row[Any]]:
    """Current runs open under a closed collection, or closed under an open one.

    Two halves, each driven by its open side; neither can use an index on the comparison
    itself, so the sweeper runs this on a slower cadence (``Sweeper.audit_interval``).
    """
    r, c = runs_t.c, collections_t.c
    joined = (
        select(*_run_columns()).select_from(collections_t).join(runs_t, r.id == c.current_run_id)
    )
    open_collection = joined.where(c.status.in_(OPEN_COLLECTION), not_(r.status.in_(OPEN_RUN)))
    open_run = joined.where(r.status.in_(OPEN_RUN), not_(c.status.in_(OPEN_COLLECTION)))
    return list(conn.execute(union_all(open_collection, open_run)))


def recover_run(
    conn: Connection, run: Any, now: dt.datetime, start_timeout: dt.datetime | None
) -> str | None:
    """Decide for one run found by ``runs_needing_attention`` or ``runs_disagreeing``.

    ``start_timeout``: a queued run whose heartbeat is older gets its start re-dispatched;
    None holds that back. Returns the decision, or None when nothing applies (any more).
    """
    status, coll = RunStatus(run.status), CollectionStatus(run.collection_status)
    if not status.is_terminal and coll.is_terminal:
        r = runs_t.c
        updated = conn.execute(
            update(runs_t)
            .where(r.id == run.id, r.status == status.value)
            .values(status=coll.value, finished_at=db_now())
        ).rowcount
        if updated != 1:
            return None
        add_note(
            conn,
            run.collection_id,
            run.id,
            None,
            "repair",
            f"run was {status.value} but the collection is {coll.value}; run closed as "
            f"{coll.value}",
        )
        return "repair"
    if status.is_terminal and not coll.is_terminal:
        transition(
            conn,
            run.collection_id,
            CollectionStatus(status.value),
            actor=ACTOR,
            run_id=run.id,
            fence_run=True,
            message=f"repaired: the collection was {coll.value} but its run is {status.value}",
        )
        return "repair"
    if run.deadline_at is not None and run.deadline_at < now:
        fail_run(
            conn,
            run.id,
            f"run passed its deadline ({run.deadline_at.isoformat()}) while {status.value}",
            actor=ACTOR,
        )
        return "fail_deadline"
    if status is RunStatus.PROCESSING and run_is_finished(run):
        finalize_run(
            conn,
            run.id,
            actor=ACTOR,
            message="all documents were finished but the run was open; finalised",
        )
        return "finalize"
    if status is RunStatus.QUEUED and _start_looks_lost(run, start_timeout):
        return _redispatch_start(conn, run, now)
    return None


def _start_looks_lost(run: Any, start_timeout: dt.datetime | None) -> bool:
    return (
        start_timeout is not None
        and run.heartbeat_at is not None
        and run.heartbeat_at < start_timeout
    )


def _redispatch_start(conn: Connection, run: Any, now: dt.datetime) -> str | None:
    """Send a queued run's start message again, fenced on the heartbeat it was found with."""
    r = runs_t.c
    updated = conn.execute(
        update(runs_t)
        .where(
            r.id == run.id,
            r.status == RunStatus.QUEUED.value,
            r.heartbeat_at == run.heartbeat_at,
        )
        .values(heartbeat_at=db_now())
    ).rowcount
    if updated != 1:
        return None
    waited = (now - run.heartbeat_at).total_seconds()
    add_note(
        conn,
        run.collection_id,
        run.id,
        None,
        "redispatch_start",
        f"run {run.id} queued {waited:.0f} s without a worker starting it; "
        "start message re-dispatched",
    )
    add_dispatch(conn, queue_name=RUNS_QUEUE, actor_name=START_RUN_ACTOR, args=[run.id])
    return "redispatch_start"
