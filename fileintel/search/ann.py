"""A derived, rebuildable index for search by meaning on large collections (HNSW, usearch).

The database stays the truth; the index is a file built from it, one per collection and
model, with a sidecar that records what it was built from (the collection's embedded
chunk count and its newest chunk id). At query time:

- the index proposes candidates; each is read back from the database and scored exactly
  with its stored embedding, so a chunk deleted since the build is never shown and a
  re-embedded one is scored with its current vector;
- chunks newer than the build (ids above its newest) are scanned exactly and merged, so
  appended documents are found before any rebuild;
- the index is **stale** when the counts or the newest id differ from the database's; the
  caller says so, and rebuilds once the drift passes ``REBUILD_DRIFT``.

A build writes a temporary file and renames it: readers see the old index or the new one.
The file is memory-mapped (``view``), so a search in a fresh process reads only the pages
it visits.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection
from usearch.index import Index

from fileintel.models.tables import chunks_t, collections_t
from fileintel.search.vectors import VectorModel, exact_search, score_chunks

#: Collections with fewer embedded chunks are searched exactly (a scan is fast enough).
EXACT_LIMIT = 50_000
#: Rebuild when this share of the collection changed since the build.
REBUILD_DRIFT = 0.10
#: Candidates taken from the index per result wanted, before the exact re-scoring.
OVERSAMPLE = 4
_READ_BATCH = 20_000
#: HNSW parameters: graph degree, and the breadth of the search when building and querying.
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 128


@dataclass(frozen=True)
class Freshness:
    """What the database holds now, to compare with what an index was built from."""

    embedded: int
    newest_id: int


@dataclass(frozen=True)
class IndexMeta:
    """The sidecar of an index file."""

    collection_id: str
    model: str
    dimension: int
    embedded: int
    newest_id: int

    def drift(self, now: Freshness) -> float:
        """The share of the collection that changed since the build (a lower bound)."""
        changed = abs(now.embedded - self.embedded) + (now.newest_id != self.newest_id)
        return changed / max(now.embedded, 1)

    def is_fresh(self, now: Freshness) -> bool:
        """True when the database holds what the index was built from (as far as counts
        and the newest id tell)."""
        return (self.embedded, self.newest_id) == (now.embedded, now.newest_id)


def freshness(conn: Connection, collection_id: str) -> Freshness:
    """The collection's embedded chunk count (its counter) and newest chunk id: two index
    lookups, whatever the collection's size."""
    c, k = chunks_t.c, collections_t.c
    embedded = conn.execute(
        select(k.chunks_embedded).where(k.id == collection_id)
    ).scalar_one_or_none()
    newest = conn.execute(
        select(c.id).where(c.collection_id == collection_id).order_by(c.id.desc()).limit(1)
    ).scalar_one_or_none()
    return Freshness(int(embedded or 0), int(newest or 0))


def index_path(index_dir: Path, collection_id: str, model: str) -> Path:
    """Where the index of a collection and model lives (its sidecar: ``.json`` beside it)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)
    return index_dir / f"{collection_id}-{safe}.usearch"


def _new_index(dimension: int) -> Any:
    return Index(
        ndim=dimension,
        metric="ip",
        dtype="f16",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def build(
    conn: Connection,
    collection_id: str,
    model: VectorModel,
    index_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> IndexMeta:
    """Build the index of the collection's chunks embedded with ``model`` from the database
    and replace the file atomically; its sidecar records what it was built from."""
    c = chunks_t.c
    index = _new_index(model.dimension)
    built_from = freshness(conn, collection_id)
    last_id, embedded = 0, 0
    while True:
        rows = conn.execute(
            select(c.id, c.embedding)
            .where(
                c.collection_id == collection_id,
                c.embedding_model == model.name,
                c.id > last_id,
            )
            .order_by(c.id)
            .limit(_READ_BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        matrix = np.frombuffer(b"".join(r.embedding for r in rows), dtype="<f4")
        keys = np.fromiter((r.id for r in rows), dtype=np.uint64, count=len(rows))
        index.add(keys, matrix.reshape(len(rows), model.dimension))
        embedded += len(rows)
        if progress is not None:
            progress(embedded)
    # Chunks added while it was read are above ``last_id``: searches scan them exactly.
    meta = IndexMeta(collection_id, model.name, model.dimension, built_from.embedded, last_id)
    path = index_path(index_dir, collection_id, model.name)
    index_dir.mkdir(parents=True, exist_ok=True)
    _replace(path, index.save)
    _replace(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(asdict(meta))))
    return meta


def _replace(path: Path, write: Callable[[str], Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(index_dir: Path, collection_id: str, model: VectorModel) -> tuple[Any, IndexMeta] | None:
    """The memory-mapped index and its sidecar, or None when there is none usable."""
    path = index_path(index_dir, collection_id, model.name)
    try:
        meta = IndexMeta(**json.loads(path.with_suffix(".json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if meta.dimension != model.dimension or meta.model != model.name:
        return None
    try:
        index = Index.restore(str(path), view=True, expansion_search=EXPANSION_SEARCH)
    except Exception:  # a missing, partial or foreign file is rebuilt, never trusted
        return None
    if index is None:
        return None
    return index, meta


def indexed_search(
    conn: Connection,
    collection_id: str,
    model: VectorModel,
    index: Any,
    meta: IndexMeta,
    query: np.ndarray,
    limit: int,
) -> list[tuple[int, float]]:
    """(chunk id, cosine) best first: the index's candidates re-scored from the database,
    merged with an exact scan of the chunks newer than the build."""
    found = index.search(query.astype(np.float32), limit * OVERSAMPLE)
    keys = [int(k) for k in np.asarray(found.keys).reshape(-1)]
    scored = score_chunks(conn, collection_id, model, keys, query)
    scored += exact_search(conn, collection_id, model, query, limit, after_id=meta.newest_id)
    scored.sort(key=lambda hit: -hit[1])
    return scored[:limit]
