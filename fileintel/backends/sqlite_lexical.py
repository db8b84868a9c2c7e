"""SQLite's lexical search: the FTS5 table ``chunks_fts`` (migration 0005) ranked by BM25."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

_SELECT = (
    "SELECT f.rowid AS id, -bm25(chunks_fts) AS score"
    "  FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
    " WHERE chunks_fts MATCH :query AND c.collection_id = :collection_id"
)
_ORDER = " ORDER BY bm25(chunks_fts), f.rowid LIMIT :limit"
_ALL = text(_SELECT + _ORDER)
_SOME = text(_SELECT + " AND c.document_id IN :document_ids" + _ORDER).bindparams(
    bindparam("document_ids", expanding=True)
)


def lexical_search(
    conn: Connection,
    collection_id: str,
    terms: Sequence[str],
    limit: int,
    document_ids: Sequence[int] | None,
) -> list[tuple[int, float]]:
    """Chunks with any of ``terms`` (word characters only), best BM25 first."""
    if not terms or document_ids == []:
        return []
    # Each term quoted: FTS5 then reads it as a string, never as an operator or column.
    params: dict[str, object] = {
        "query": " OR ".join(f'"{t}"' for t in terms),
        "collection_id": collection_id,
        "limit": limit,
    }
    statement = _ALL
    if document_ids is not None:
        statement = _SOME
        params["document_ids"] = list(document_ids)
    return [(int(r.id), float(r.score)) for r in conn.execute(statement, params)]
