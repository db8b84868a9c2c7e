"""Exact search by meaning: every embedding of a collection read and scored.

Embeddings are L2-normalised when written, so the cosine is a dot product. Chunks are read
in id order, in batches, keeping only the running top K: memory stays flat however large
the collection is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from fileintel.models.tables import chunks_t
from fileintel.store.embeddings import newest_model

BATCH = 5_000


@dataclass(frozen=True)
class VectorModel:
    """The model a collection is searched with, and whether older chunks used another."""

    name: str
    dimension: int
    mixed_with: str | None


def vector_model(conn: Connection, collection_id: str) -> VectorModel | None:
    """The model of the collection's newest embedded chunk (a reembed moves it), or None;
    ``mixed_with`` names the oldest chunk's model when it differs (a reembed under way)."""
    newest = newest_model(conn, collection_id)
    if newest is None:
        return None
    c = chunks_t.c
    oldest = conn.execute(
        select(c.embedding_model)
        .where(c.collection_id == collection_id, c.embedding_dim.is_not(None))
        .order_by(c.id)
        .limit(1)
    ).scalar_one()
    return VectorModel(newest[0], newest[1], oldest if oldest != newest[0] else None)


def exact_search(
    conn: Connection,
    collection_id: str,
    model: VectorModel,
    query: np.ndarray,
    limit: int,
    document_ids: Sequence[int] | None = None,
    after_id: int = 0,
) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the ``limit`` chunks closest to ``query``, best first; only
    chunks above ``after_id`` (the ones a derived index has not seen) when given."""
    c = chunks_t.c
    conditions = [c.collection_id == collection_id, c.embedding_model == model.name]
    if document_ids is not None:
        conditions.append(c.document_id.in_(list(document_ids)))
    best_scores = np.empty(0, dtype=np.float32)
    best_ids = np.empty(0, dtype=np.int64)
    last_id = after_id
    while True:
        rows = conn.execute(
            select(c.id, c.embedding).where(*conditions, c.id > last_id).order_by(c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        scores, ids = score_rows(rows, model.dimension, query)
        scores = np.concatenate([best_scores, scores])
        ids = np.concatenate([best_ids, ids])
        keep = np.argsort(-scores, kind="stable")[:limit]
        best_scores, best_ids = scores[keep], ids[keep]
    return list(zip(best_ids.tolist(), best_scores.tolist(), strict=True))


def score_rows(
    rows: Sequence[Any], dimension: int, query: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of rows with ``id`` and ``embedding`` (float32 bytes) against ``query``."""
    matrix = np.frombuffer(b"".join(r.embedding for r in rows), dtype="<f4")
    scores = matrix.reshape(len(rows), dimension) @ query
    ids = np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows))
    return scores.astype(np.float32), ids


def score_chunks(
    conn: Connection,
    collection_id: str,
    model: VectorModel,
    ids: Sequence[int],
    query: np.ndarray,
) -> list[tuple[int, float]]:
    """(id, cosine) of those of ``ids`` still in the collection with this model, scored
    with their stored vectors (candidates from an index or from the lexical ranking)."""
    if not ids:
        return []
    c = chunks_t.c
    rows = conn.execute(
        select(c.id, c.embedding).where(
            c.id.in_(list(ids)), c.collection_id == collection_id, c.embedding_model == model.name
        )
    ).all()
    if not rows:
        return []
    scores, found = score_rows(rows, model.dimension, query)
    return list(zip(found.tolist(), scores.tolist(), strict=True))
