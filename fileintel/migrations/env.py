"""Alembic environment: runs migrations on the connection or URL FileIntel hands it."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import DateTime

from fileintel.db import make_engine
from fileintel.models import Base
from fileintel.models.base import UTCDateTime
from fileintel.models.partial_indexes import attach as attach_partial_indexes

config = context.config
attach_partial_indexes()  # compared with the database like every other index
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our portable types as plain SQLAlchemy types, so migrations stand alone."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def compare_type(
    context: Any, inspected: Any, metadata: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    """Treat UTCDateTime as the DateTime it is stored as."""
    if isinstance(metadata_type, UTCDateTime):
        return not isinstance(inspected_type, DateTime)
    return None


#: What migration 0005 adds outside the models: the lexical index of each database.
NOT_IN_MODELS = {"text_search", "ix_chunks_text_search", "chunks_fts"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave the lexical index (a PostgreSQL generated column, SQLite's FTS5 tables) out
    of the comparison of models and database."""
    if not reflected or name is None:
        return True
    return name not in NOT_IN_MODELS and not name.startswith("chunks_fts_")


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=compare_type,
        include_object=include_object,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run 'fileintel db upgrade'")
run_migrations_online()
