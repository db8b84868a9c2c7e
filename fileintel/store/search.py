"""Cosine search over a collection's chunk embeddings.

Embeddings are L2-normalised when written, so the cosine is a dot product. Chunks are read
in batches and only the running top K is kept, so memory stays flat for large collections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from fileintel.errors import InputError
from fileintel.models.tables import chunks_t, documents_t
from fileintel.pipeline.embedding import Embedder, get_embedder

BATCH = 5_000
SNIPPET_CHARS = 300


@dataclass(frozen=True)
class Hit:
    """One search result."""

    score: float
    path: str
    document_id: int
    chunk: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        """The ``search --json`` object."""
        return {
            "score": round(self.score, 4),
            "path": self.path,
            "document_id": self.document_id,
            "chunk": self.chunk,
            "text": self.text,
        }


def embedding_model(conn: Connection, collection_id: str) -> tuple[str, int] | None:
    """The (model, dimension) the collection's chunks were embedded with, or None."""
    c = chunks_t.c
    row = conn.execute(
        select(c.embedding_model, c.embedding_dim)
        .where(c.collection_id == collection_id, c.embedding_dim.is_not(None))
        .limit(1)
    ).one_or_none()
    return (row.embedding_model, row.embedding_dim) if row is not None else None


def search(
    conn: Connection,
    collection_id: str,
    query: str,
    top: int,
    embedder: Embedder | None = None,
    embedder_name: str | None = None,
) -> list[Hit]:
    """The ``top`` chunks most similar to ``query``, best first."""
    if not query.strip():
        raise InputError("the search query is empty")
    model = embedding_model(conn, collection_id)
    if model is None:
        raise InputError(
            "the collection has no embedded chunks; process it (without --no-embeddings) first"
        )
    active = embedder or get_embedder(embedder_name)
    if active.model_name != model[0] or active.dimension != model[1]:
        raise InputError(
            f"the collection was embedded with {model[0]} ({model[1]} dims) but "
            f"the configured embedder is {active.model_name}; set "
            "FILEINTEL_EMBEDDER to match"
        )
    q = active.embed([query])[0].astype(np.float32)
    best_scores = np.empty(0, dtype=np.float32)
    best_ids = np.empty(0, dtype=np.int64)
    c = chunks_t.c
    last_id = 0
    while True:
        rows = conn.execute(
            select(c.id, c.embedding)
            .where(c.collection_id == collection_id, c.embedding_model == model[0], c.id > last_id)
            .order_by(c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        matrix = np.frombuffer(b"".join(r.embedding for r in rows), dtype="<f4").reshape(
            len(rows), model[1]
        )
        scores = np.concatenate([best_scores, matrix @ q])
        ids = np.concatenate([best_ids, np.fromiter((r.id for r in rows), dtype=np.int64)])
        keep = np.argsort(-scores, kind="stable")[:top]
        best_scores, best_ids = scores[keep], ids[keep]
    return _hits(conn, best_ids.tolist(), best_scores.tolist())


def _hits(conn: Connection, ids: list[int], scores: list[float]) -> list[Hit]:
    if not ids:
        return []
    c, d = chunks_t.c, documents_t.c
    rows = {
        r.id: r
        for r in conn.execute(
            select(c.id, c.ordinal, c.text, c.document_id, d.path)
            .join(documents_t, d.id == c.document_id)
            .where(c.id.in_(ids))
        )
    }
    hits = []
    for chunk_id, score in zip(ids, scores, strict=True):
        r = rows[chunk_id]
        text = " ".join(r.text.split())
        if len(text) > SNIPPET_CHARS:
            text = text[: SNIPPET_CHARS - 1] + "…"
        hits.append(Hit(float(score), r.path, r.document_id, r.ordinal, text))
    return hits
