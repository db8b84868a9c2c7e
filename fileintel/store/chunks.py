"""A document's chunk rows: replaced as a whole when it finishes, dropped when it fails.

Chunks are never updated in place: a finish deletes what the document had and inserts what
this attempt produced (``Backend.finish_document``), so a redelivered message leaves one
set (invariant I). A document that fails keeps none: search must not return them.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from fileintel.backends import portable


def drop_chunks(conn: Connection, document_id: int) -> tuple[int, int]:
    """Delete a document's chunks; return how many there were and how many had an
    embedding, for the caller to take off the collection's counters."""
    return portable.drop_chunks(conn, document_id)
