"""``search``: a collection's chunks ranked for a question, with filters and context.

Modes: ``vector`` (meaning), ``lexical`` (words), ``hybrid`` (both, fused by a convex
combination of their scores, ``fusion``). The question is embedded with the model the
collection was embedded with, whatever ``FILEINTEL_EMBEDDER`` says now (it applies to new
processing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from fileintel.backends import backend_for
from fileintel.errors import InputError
from fileintel.models.tables import chunks_t, collections_t, documents_t
from fileintel.pipeline.embedding import get_embedder
from fileintel.pipeline.terms import matched_spans, query_terms
from fileintel.search import ann
from fileintel.search.fusion import HYBRID_ALPHA, convex_fusion
from fileintel.search.vectors import VectorModel, exact_search, score_chunks, vector_model

MODES = ("hybrid", "vector", "lexical")
SNIPPET_CHARS = 300
#: Candidates each ranking contributes to the fusion, at least.
POOL = 50


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked: the question, how many results, and how to search."""

    query: str
    top: int = 5
    mode: str = "hybrid"
    document_glob: str | None = None
    media_type: str | None = None
    context: int = 0
    exact: bool = False


@dataclass(frozen=True)
class Hit:
    """One result: the chunk, its score in the mode searched, and what to show with it."""

    score: float
    path: str
    document_id: int
    chunk: int
    text: str
    chunk_id: int
    media_type: str
    snippet: str
    highlights: list[tuple[int, int]]
    vector_rank: int | None
    lexical_rank: int | None
    context: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The ``search --json`` object (the design brief's keys first, never renamed)."""
        return {
            "score": round(self.score, 4),
            "path": self.path,
            "document_id": self.document_id,
            "chunk": self.chunk,
            "text": self.text,
            "chunk_id": self.chunk_id,
            "media_type": self.media_type,
            "snippet": self.snippet,
            "matched": sorted({self.snippet[a:b].lower() for a, b in self.highlights}),
            "ranks": {"vector": self.vector_rank, "lexical": self.lexical_rank},
            "context": self.context,
        }


@dataclass(frozen=True)
class SearchResult:
    """The hits, best first, and how they were found (``notes``: what the user should know)."""

    hits: list[Hit]
    mode: str
    method: str  # "exact", "index" or "lexical"
    model: str | None
    notes: list[str]


def search(
    conn: Connection,
    collection_id: str,
    request: SearchRequest,
    index_dir: Path,
    announce: Callable[[str], None] | None = None,
) -> SearchResult:
    """Rank the collection's chunks for ``request`` (see the module docstring)."""
    if not request.query.strip():
        raise InputError("the search query is empty; give a question or some words")
    if request.mode not in MODES:
        raise InputError(f"unknown search mode {request.mode!r}; use one of {', '.join(MODES)}")
    notes: list[str] = []
    document_ids = _documents(conn, collection_id, request)
    pool = max(POOL, 4 * request.top)
    model = vector_model(conn, collection_id)
    vector: list[tuple[int, float]] = []
    query_vector = np.zeros(0, dtype=np.float32)
    method = "lexical"
    if request.mode != "lexical":
        if model is None:
            if request.mode == "vector":
                raise InputError(
                    "the collection has no embedded chunks; process it "
                    "(without --no-embeddings) first, or search with --mode lexical"
                )
            notes.append("no chunk has an embedding: searched by words only")
        else:
            if model.mixed_with:
                notes.append(
                    f"some chunks are still embedded with {model.mixed_with}: only those "
                    f"embedded with {model.name} are searched by meaning (a reembed is due)"
                )
            query_vector = get_embedder(model.name).embed([request.query])[0].astype(np.float32)
            vector, method = _by_meaning(
                conn,
                collection_id,
                model,
                query_vector,
                request,
                pool,
                document_ids,
                index_dir,
                notes,
                announce,
            )
    lexical: list[tuple[int, float]] = []
    terms = query_terms(request.query)
    if request.mode != "vector":
        lexical = backend_for(conn).lexical_search(conn, collection_id, terms, pool, document_ids)
    if request.mode == "hybrid" and model is not None and lexical:
        # The lexical candidates the meaning ranking did not reach get their cosine too.
        seen = {i for i, _ in vector}
        missing = [i for i, _ in lexical if i not in seen]
        vector = vector + score_chunks(conn, collection_id, model, missing, query_vector)
    ranked = _rank(request.mode, vector, lexical)[: request.top]
    hits = _hits(conn, ranked, vector, lexical, terms, request.context)
    return SearchResult(hits, request.mode, method, model.name if model else None, notes)


def _rank(
    mode: str, vector: list[tuple[int, float]], lexical: list[tuple[int, float]]
) -> list[tuple[int, float]]:
    if mode == "vector":
        return vector
    if mode == "lexical":
        return lexical
    return convex_fusion(vector, lexical, HYBRID_ALPHA)


def _by_meaning(
    conn: Connection,
    collection_id: str,
    model: VectorModel,
    query: np.ndarray,
    request: SearchRequest,
    pool: int,
    document_ids: list[int] | None,
    index_dir: Path,
    notes: list[str],
    announce: Callable[[str], None] | None,
) -> tuple[list[tuple[int, float]], str]:
    """Exact for small collections, filtered searches and ``--exact``; else the index."""
    c = collections_t.c
    embedded = conn.execute(select(c.chunks_embedded).where(c.id == collection_id)).scalar_one()
    if request.exact or document_ids is not None or embedded < ann.EXACT_LIMIT:
        return exact_search(conn, collection_id, model, query, pool, document_ids), "exact"
    now = ann.freshness(conn, collection_id)
    loaded = ann.load(index_dir, collection_id, model)
    if loaded is None or loaded[1].drift(now) > ann.REBUILD_DRIFT:
        if announce is not None:
            announce(
                f"building the search index of {now.embedded} chunks (once; kept in {index_dir})"
            )
        ann.build(conn, collection_id, model, index_dir)
        loaded = ann.load(index_dir, collection_id, model)
        if loaded is None:
            notes.append(f"the search index in {index_dir} could not be read: searched exactly")
            return exact_search(conn, collection_id, model, query, pool), "exact"
    index, meta = loaded
    if not meta.is_fresh(now):
        notes.append(
            f"the search index is stale ({meta.embedded} chunks when built, {now.embedded} "
            "now): new chunks are searched exactly and every hit is re-read from the "
            "database; it is rebuilt once more than "
            f"{ann.REBUILD_DRIFT:.0%} of the collection has changed"
        )
    return ann.indexed_search(conn, collection_id, model, index, meta, query, pool), "index"


def _documents(conn: Connection, collection_id: str, request: SearchRequest) -> list[int] | None:
    """The ids of the documents the filters keep, or None when there is no filter."""
    if request.document_glob is None and request.media_type is None:
        return None
    d = documents_t.c
    rows = conn.execute(
        select(d.id, d.path, d.media_type).where(d.collection_id == collection_id)
    ).all()
    kept = [
        r.id
        for r in rows
        if (request.document_glob is None or _path_matches(r.path, request.document_glob))
        and (request.media_type is None or fnmatchcase(r.media_type, request.media_type))
    ]
    if not kept:
        what = " and ".join(
            f"{flag} {value!r}"
            for flag, value in (
                ("--document", request.document_glob),
                ("--media-type", request.media_type),
            )
            if value is not None
        )
        raise InputError(
            f"no document of the collection matches {what}; list them with "
            "'fileintel collections documents NAME'"
        )
    return kept


def _path_matches(path: str, glob: str) -> bool:
    """A glob matches the whole path or, without a slash, the file's name."""
    return fnmatchcase(path, glob) or ("/" not in glob and fnmatchcase(Path(path).name, glob))


def _hits(
    conn: Connection,
    ranked: list[tuple[int, float]],
    vector: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    terms: list[str],
    context: int,
) -> list[Hit]:
    """Read the ranked chunks back (the database is the truth: a chunk gone is dropped)."""
    if not ranked:
        return []
    c, d = chunks_t.c, documents_t.c
    rows = {
        r.id: r
        for r in conn.execute(
            select(c.id, c.ordinal, c.text, c.document_id, d.path, d.media_type)
            .join(documents_t, d.id == c.document_id)
            .where(c.id.in_([i for i, _ in ranked]))
        )
    }
    vector_ranks = {i: n for n, (i, _) in enumerate(vector, 1)}
    lexical_ranks = {i: n for n, (i, _) in enumerate(lexical, 1)}
    hits = []
    for chunk_id, score in ranked:
        r = rows.get(chunk_id)
        if r is None:
            continue
        flat = " ".join(r.text.split())
        text = flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"
        snippet, spans = snippet_around(flat, terms)
        hits.append(
            Hit(
                float(score),
                r.path,
                r.document_id,
                r.ordinal,
                text,
                chunk_id,
                r.media_type,
                snippet,
                spans,
                vector_ranks.get(chunk_id),
                lexical_ranks.get(chunk_id),
                _context(conn, r.document_id, r.ordinal, context) if context else [],
            )
        )
    return hits


def snippet_around(text: str, terms: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """At most ``SNIPPET_CHARS`` of ``text`` around its first matched word, and the spans
    of the matched words within the snippet."""
    spans = matched_spans(text, terms)
    start = 0
    if spans and len(text) > SNIPPET_CHARS:
        start = max(0, min(spans[0][0] - SNIPPET_CHARS // 4, len(text) - SNIPPET_CHARS))
    end = min(len(text), start + SNIPPET_CHARS)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    snippet = prefix + text[start:end] + suffix
    shift = len(prefix) - start
    inside = [(a + shift, b + shift) for a, b in spans if a >= start and b <= end]
    return snippet, inside


def _context(conn: Connection, document_id: int, ordinal: int, n: int) -> list[dict[str, Any]]:
    """The ``n`` chunks before and after a hit in its document, in order."""
    c = chunks_t.c
    rows = conn.execute(
        select(c.ordinal, c.text)
        .where(
            c.document_id == document_id,
            c.ordinal.between(ordinal - n, ordinal + n),
            c.ordinal != ordinal,
        )
        .order_by(c.ordinal)
    ).all()
    return [{"chunk": r.ordinal, "text": " ".join(r.text.split())} for r in rows]
