"""The audit: a run and its collection that disagree on whether the work is open.

Finds current runs open under a closed collection, or closed under an open one. Every
writer changes a run and its collection in one transaction, so this only catches bugs and
hand edits; comparing two tables it cannot use an index and reads the open side of both,
which is why the sweeper runs it every ``AUDIT_INTERVAL_SECONDS`` rather than every pass.
Decides ``REPAIR``: the open side follows the closed one. The guarded writes: a run is
closed by an UPDATE fenced on the status it was found with; a collection is moved by the
transition function, whose UPDATE is fenced on its status and current run, so a second
sweep matches nothing (``StateError``) and is skipped. ``runs.recover_run`` applies the
repair first to runs found by either query.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, not_, select, union_all, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now
from fileintel.models.states import CollectionStatus, RunStatus
from fileintel.models.tables import collections_t, runs_t
from fileintel.store.transitions import transition
from fileintel.sweeper.decisions import Decision
from fileintel.sweeper.notes import ACTOR, add_note
from fileintel.sweeper.run_rows import OPEN_COLLECTION, OPEN_RUN, run_columns

#: Seconds between two audits of collection/run agreement by one Sweeper.
AUDIT_INTERVAL_SECONDS = 60.0


def runs_disagreeing(conn: Connection) -> list[Row[Any]]:
    """Current runs open under a closed collection, or closed under an open one.

    Two halves, each driven by its open side; neither can use an index on the comparison
    itself, so the sweeper runs this on a slower cadence (``Sweeper.audit_interval``).
    """
    r, c = runs_t.c, collections_t.c
    joined = (
        select(*run_columns()).select_from(collections_t).join(runs_t, r.id == c.current_run_id)
    )
    open_collection = joined.where(c.status.in_(OPEN_COLLECTION), not_(r.status.in_(OPEN_RUN)))
    open_run = joined.where(r.status.in_(OPEN_RUN), not_(c.status.in_(OPEN_COLLECTION)))
    return list(conn.execute(union_all(open_collection, open_run)))


def disagrees(run: Any) -> bool:
    """Whether one side of ``run`` (a ``run_columns`` row) is closed and the other is not."""
    status, coll = RunStatus(run.status), CollectionStatus(run.collection_status)
    return status.is_terminal != coll.is_terminal


def repair(conn: Connection, run: Any) -> Decision | None:
    """Make the open side of a disagreeing run follow the closed one; None if moot."""
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
            Decision.REPAIR,
            f"run was {status.value} but the collection is {coll.value}; run closed as "
            f"{coll.value}",
        )
        return Decision.REPAIR
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
        return Decision.REPAIR
    return None
