"""Which model a collection's chunks are embedded with."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from fileintel.models.tables import chunks_t


def newest_model(conn: Connection, collection_id: str) -> tuple[str, int] | None:
    """(model, dimension) of the collection's newest embedded chunk, or None. A collection
    keeps its model until ``collections reembed`` changes it, so this is the model its new
    documents are embedded with and the one a question is embedded with."""
    c = chunks_t.c
    row = conn.execute(
        select(c.embedding_model, c.embedding_dim)
        .where(c.collection_id == collection_id, c.embedding_dim.is_not(None))
        .order_by(c.id.desc())
        .limit(1)
    ).one_or_none()
    return (row.embedding_model, row.embedding_dim) if row is not None else None
