"""The run rules: runs past their deadline, never started, or finished but still open.

Finds, in one query (``runs_needing_attention``), current runs open past ``deadline_at``,
queued with no worker starting them for the dispatch timeout, or processing with every
document finished. Each ``OR`` branch implies the predicate of one partial index on
``runs`` (migration 0002), so PostgreSQL reads them with a ``BitmapOr`` of three small
indexes and joins the collection by primary key for the runs found only: a pass that
finds nothing reads a few index pages however many runs exist. ``recover_run`` decides,
in this order: ``REPAIR`` (``audit``) when run and collection disagree, ``FAIL_DEADLINE``,
``FINALIZE``, ``REDISPATCH_START``. The guarded writes: failing and finalising go through
the transition function (collection fenced on its status and current run) and a run
UPDATE fenced on the run's status, raising a ``StateError`` for the second sweep; a start
is re-sent by a run UPDATE fenced on the heartbeat it was found with, which a second
sweep does not match.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, case, or_, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.messaging import RUNS_QUEUE, START_RUN_ACTOR
from fileintel.models.states import RunStatus
from fileintel.models.tables import collections_t, runs_t
from fileintel.store.lifecycle import fail_run, finalize_run, run_is_finished
from fileintel.store.outbox_rows import add_dispatch
from fileintel.sweeper import audit
from fileintel.sweeper.decisions import Decision
from fileintel.sweeper.notes import ACTOR, add_note
from fileintel.sweeper.run_rows import OPEN_RUN, run_columns


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
            select(*run_columns())
            .select_from(runs_t)
            .join(collections_t, (c.id == r.collection_id) & (c.current_run_id == r.id))
            .where(or_(*rules))
        )
    )


def describe(run: Any) -> str:
    """What a dry run says about one run found by either run query."""
    return f"run {run.id}: {run.status} (collection {run.collection_status}) needs attention"


def recover_run(
    conn: Connection, run: Any, now: dt.datetime, start_timeout: dt.datetime | None
) -> Decision | None:
    """Decide for one run found by ``runs_needing_attention`` or ``audit.runs_disagreeing``.

    ``start_timeout``: a queued run whose heartbeat is older gets its start re-dispatched;
    None holds that back. Returns the decision, or None when nothing applies (any more).
    """
    # A disagreement is repaired before anything else: the other rules trust the run status.
    if audit.disagrees(run):
        return audit.repair(conn, run)
    status = RunStatus(run.status)
    if run.deadline_at is not None and run.deadline_at < now:
        fail_run(
            conn,
            run.id,
            f"run passed its deadline ({run.deadline_at.isoformat()}) while {status.value}",
            actor=ACTOR,
        )
        return Decision.FAIL_DEADLINE
    if status is RunStatus.PROCESSING and run_is_finished(run):
        finalize_run(
            conn,
            run.id,
            actor=ACTOR,
            message="all documents were finished but the run was open; finalised",
        )
        return Decision.FINALIZE
    if status is RunStatus.QUEUED and _start_looks_lost(run, start_timeout):
        return redispatch_start(conn, run, now)
    return None


def _start_looks_lost(run: Any, start_timeout: dt.datetime | None) -> bool:
    return (
        start_timeout is not None
        and run.heartbeat_at is not None
        and run.heartbeat_at < start_timeout
    )


def redispatch_start(conn: Connection, run: Any, now: dt.datetime) -> Decision | None:
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
        Decision.REDISPATCH_START,
        f"run {run.id} queued {waited:.0f} s without a worker starting it; "
        "start message re-dispatched",
    )
    add_dispatch(conn, queue_name=RUNS_QUEUE, actor_name=START_RUN_ACTOR, args=[run.id])
    return Decision.REDISPATCH_START
