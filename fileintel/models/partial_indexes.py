"""The partial indexes of the sweeper's and the relay's scans: DDL only, attached on demand.

Queries never need these ``Index`` objects; migrations create the indexes (0002, 0004) and
the model only has to know them to be compared with the migrations. Declaring an index
with ``postgresql_where`` makes SQLAlchemy import its PostgreSQL dialect to check the
argument, which costs a read command on the embedded file (``collections status``) about
7 % of its start-up; so ``attach()`` adds them to the tables when something compares or
creates schema: Alembic's ``env.py`` and the migration tests.
"""

from __future__ import annotations

import functools

from sqlalchemy import Index, text

from fileintel.models.states import RunStatus
from fileintel.models.tables import documents_t, outbox_t, runs_t

# Predicates of the runs' partial indexes (migration 0002); the sweeper's run rules imply them.
_RUN_OPEN = f"status IN ('{RunStatus.QUEUED.value}', '{RunStatus.PROCESSING.value}')"
_RUN_QUEUED = f"status = '{RunStatus.QUEUED.value}'"
#: "Every document finished" as documents left while processing ``<= 0`` (NULL for other
#: runs): migration 0002 gives PostgreSQL statistics on that expression, so the planner
#: knows how few runs match.
_RUN_FINISHED_OPEN = (
    f"CASE WHEN status = '{RunStatus.PROCESSING.value}' THEN documents_total"
    " - documents_done - documents_failed - documents_skipped END <= 0"
)


@functools.cache
def attach() -> tuple[Index, ...]:
    """Add the partial indexes to their tables (once per process); return them."""
    return (
        # The sweeper's run rules, one partial index each: only runs a rule can find are
        # indexed, so a pass that finds nothing reads a few pages however many runs exist.
        Index(
            "ix_runs_open_deadline",
            runs_t.c.deadline_at,
            postgresql_where=text(_RUN_OPEN),
            sqlite_where=text(_RUN_OPEN),
        ),
        Index(
            "ix_runs_queued_heartbeat",
            runs_t.c.heartbeat_at,
            postgresql_where=text(_RUN_QUEUED),
            sqlite_where=text(_RUN_QUEUED),
        ),
        Index(
            "ix_runs_finished_open",
            runs_t.c.id,
            postgresql_where=text(_RUN_FINISHED_OPEN),
            sqlite_where=text(_RUN_FINISHED_OPEN),
        ),
        # The sweeper's scans: only rows in flight are indexed, so a pass that finds nothing
        # stays cheap however many finished documents there are.
        Index(
            "ix_documents_lease_in_flight",
            documents_t.c.lease_expires_at,
            postgresql_where=text("state = 'processing'"),
            sqlite_where=text("state = 'processing'"),
        ),
        Index(
            "ix_documents_dispatched_pending",
            documents_t.c.dispatched_at,
            postgresql_where=text("state = 'pending' AND dispatched_at IS NOT NULL"),
            sqlite_where=text("state = 'pending' AND dispatched_at IS NOT NULL"),
        ),
        # The relay's claim and the outbox's backlog: only unpublished rows.
        Index(
            "ix_outbox_unpublished",
            outbox_t.c.id,
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        Index(
            "ix_outbox_unpublished_key",
            outbox_t.c.key,
            outbox_t.c.id,
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )
