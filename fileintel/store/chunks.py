"""A document's chunk rows: replaced as a whole when it finishes, dropped when it fails.

Chunks are never updated in place: a finish deletes what the document had and inserts what
this attempt produced, so a redelivered message leaves one set (invariant I).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete
from sqlalchemy.engine import Connection

from fileintel.models.tables import chunks_t
from fileintel.pipeline import ProcessedDocument
from fileintel.pipeline.embedding import to_bytes


def replace_chunks(
    conn: Connection, document_id: int, collection_id: str, result: ProcessedDocument | None
) -> tuple[int, int]:
    """Delete the document's chunks and insert ``result``'s; return the old counts.

    On SQLite, the only database the portable finish runs on; PostgreSQL's finish does the
    same with a binary COPY (``document_work_pg``).
    """
    old, old_embedded = drop_chunks(conn, document_id)
    if result is None:
        # A failed document keeps no stale chunks: search must not return them.
        return old, old_embedded
    model = result.embedding_model
    rows = []
    for i, chunk in enumerate(result.chunks):
        vector = result.embeddings[i] if result.embeddings is not None else None
        rows.append(
            (
                document_id,
                collection_id,
                chunk.ordinal,
                chunk.text,
                chunk.start,
                chunk.end,
                chunk.token_count,
                to_bytes(vector) if vector is not None else None,
                model if vector is not None else None,
                int(vector.shape[0]) if vector is not None else None,
            )
        )
    if rows:
        # The driver's executemany: through Core, binding 43 rows of 10 values cost three
        # times what SQLite took to insert them.
        conn.exec_driver_sql(_INSERT_SQLITE, rows)
    return old, old_embedded


def drop_chunks(conn: Connection, document_id: int) -> tuple[int, int]:
    """Delete a document's chunks; return how many there were and how many had an
    embedding, for the caller to take off the collection's counters."""
    old = conn.execute(_DROP, {"b_document": document_id}).all()
    return len(old), sum(1 for row in old if row.embedding_dim is not None)


#: Built once: a finish and a recovery run it for every document.
_DROP = (
    delete(chunks_t)
    .where(chunks_t.c.document_id == bindparam("b_document"))
    .returning(chunks_t.c.embedding_dim)
)

_COLUMNS = (
    "document_id",
    "collection_id",
    "ordinal",
    "text",
    "start_offset",
    "end_offset",
    "token_count",
    "embedding",
    "embedding_model",
    "embedding_dim",
)
_INSERT_SQLITE = (
    f"INSERT INTO chunks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)
