"""sweeper: partial indexes on runs for the run rules of a sweep pass

Each index holds only the runs one rule of the sweeper can find (open runs by deadline,
queued runs by heartbeat, processing runs whose documents are all finished), so a pass that
finds nothing reads a few index pages instead of every run and every collection.

The "all finished" rule is written as "documents left while processing <= 0" (a CASE that
is NULL unless the run is processing), and on PostgreSQL 14 and later a statistics object on
that expression tells the planner how few runs match. Without it a comparison between
columns is guessed at a third of the rows (or status and counters are taken as unrelated,
while finished counters belong to closed runs), and the planner then hashes every
collection, or reads every open run, instead of the empty index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 22:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('queued', 'processing')"
QUEUED = "status = 'queued'"
#: Documents a processing run has not finished (NULL for other runs).
LEFT_WHILE_PROCESSING = (
    "CASE WHEN status = 'processing'"
    " THEN documents_total - documents_done - documents_failed - documents_skipped END"
)
FINISHED_OPEN = f"{LEFT_WHILE_PROCESSING} <= 0"
STATISTICS = "stx_runs_documents_left"

#: (name, columns, predicate)
INDEXES = [
    ("ix_runs_open_deadline", ["deadline_at"], OPEN),
    ("ix_runs_queued_heartbeat", ["heartbeat_at"], QUEUED),
    ("ix_runs_finished_open", ["id"], FINISHED_OPEN),
]


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        for name, columns, where in INDEXES:
            batch_op.create_index(
                name,
                columns,
                unique=False,
                postgresql_where=sa.text(where),
                sqlite_where=sa.text(where),
            )
    bind = op.get_bind()
    version = bind.dialect.server_version_info or ()
    if bind.dialect.name == "postgresql" and version >= (14,):
        op.execute(
            f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} ON ({LEFT_WHILE_PROCESSING}) FROM runs"
        )
        op.execute("ANALYZE runs")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        for name, _columns, where in reversed(INDEXES):
            batch_op.drop_index(
                name,
                postgresql_where=sa.text(where),
                sqlite_where=sa.text(where),
            )
