"""outbox NOTIFY: say which kinds of rows a statement inserted

The relay LISTENs on ``fileintel_outbox`` and makes a pass on every notification. With no
events sink configured (events are kept in the database only) a pass for an event row
publishes nothing and only marks it, yet it came once per finished document. The payload
now names the kinds the statement inserted (``event``, ``dispatch``; one notification per
kind, and PostgreSQL folds repeats within a transaction), so such a relay can leave those
rows to its next poll while dispatches still wake it at once. An empty payload (the
trigger of 0001) still wakes every relay. SQLite has no NOTIFY: nothing to do.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_KINDS_FUNCTION = """
CREATE OR REPLACE FUNCTION fileintel_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('fileintel_outbox', kind) FROM (SELECT DISTINCT kind FROM new_rows) AS k;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
NOTIFY_KINDS_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION fileintel_outbox_notify()
"""
# As 0001 created them.
NOTIFY_ANY_FUNCTION = """
CREATE OR REPLACE FUNCTION fileintel_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('fileintel_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
NOTIFY_ANY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION fileintel_outbox_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute(NOTIFY_KINDS_FUNCTION)
        op.execute(NOTIFY_KINDS_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute(NOTIFY_ANY_FUNCTION)
        op.execute(NOTIFY_ANY_TRIGGER)
