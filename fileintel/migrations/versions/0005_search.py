"""search: a lexical index kept with the chunks, chunks by collection in id order, reembed runs

The lexical index is written by the database in the transaction that writes the chunks,
so it can never disagree with them:

- PostgreSQL: ``chunks.text_search``, a generated ``tsvector`` column (``english``
  configuration: stemmed, stop words dropped) with a GIN index. A generated column is
  computed for every row however it arrives, the finish's binary ``COPY`` included.
- SQLite: ``chunks_fts``, an FTS5 table over ``chunks.text`` (external content, Porter
  stemmer) kept by three triggers. A later migration that rebuilds ``chunks`` on SQLite
  (Alembic's batch mode copies the table) drops the triggers and must create them again.

Neither is in the models (they are not portable columns): ``env.include_object`` leaves
them out of the comparison. ``ix_chunks_collection_id`` becomes
``ix_chunks_collection_id_id`` (collection, id): the same lookups, plus the newest chunk
of a collection and the chunks added after a derived index was built, in one index range.
Runs gain the kind ``reembed``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_COLUMN = (
    "ALTER TABLE chunks ADD COLUMN text_search tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED"
)
PG_INDEX = "CREATE INDEX ix_chunks_text_search ON chunks USING gin (text_search)"
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5("
    "text, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    # The chunks an existing database already has.
    "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')",
]
SQLITE_FTS_DROP = [
    "DROP TRIGGER IF EXISTS chunks_fts_update",
    "DROP TRIGGER IF EXISTS chunks_fts_delete",
    "DROP TRIGGER IF EXISTS chunks_fts_insert",
    "DROP TABLE IF EXISTS chunks_fts",
]
KINDS = "kind IN ('process', 'retry', 'reembed')"
OLD_KINDS = "kind IN ('process', 'retry')"


def upgrade() -> None:
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_chunks_collection_id")
        batch_op.create_index("ix_chunks_collection_id_id", ["collection_id", "id"])
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_runs_kind_valid"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_runs_kind_valid"), KINDS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_COLUMN)
        op.execute(PG_INDEX)
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_chunks_text_search")
        op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS text_search")
    else:
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    op.execute("UPDATE runs SET kind = 'process' WHERE kind = 'reembed'")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_runs_kind_valid"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_runs_kind_valid"), OLD_KINDS)
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_chunks_collection_id_id")
        batch_op.create_index("ix_chunks_collection_id", ["collection_id"])
