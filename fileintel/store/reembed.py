"""Re-embedding: a collection's stored chunks embedded again with another model.

``collections reembed`` is a run of its own (``runs.request_processing`` with kind
``reembed``): status, history, events, leases, fencing and recovery are those of every
run. Its documents are the ones processed (done or skipped); a worker embeds each one's
stored chunk texts and commits them through the same fenced finish as processing
(``document_work.commit_outcome``), which replaces the chunks and their lexical index in
one transaction. A document without stored chunks (its earlier finish failed) is
processed from its file instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from fileintel.config import parse_embedder
from fileintel.db import read_tx
from fileintel.errors import InputError
from fileintel.models.tables import chunks_t, collections_t, documents_t, runs_t
from fileintel.pipeline import ProcessedDocument, TextChunk
from fileintel.pipeline.embedding import Embedder
from fileintel.store.runs import REEMBED, request_processing

#: The run options that are not the pipeline's (a reembed run keeps the pipeline's).
_NOT_PIPELINE = ("force", "reembed", "embedder")


def request_reembed(
    conn: Connection, collection_id: str, embedder: str, *, deadline_seconds: float | None
) -> str:
    """Queue a reembed run with ``embedder``; its id. The chunking options are the last
    run's, so a later ``process`` finds the documents unchanged."""
    try:
        parse_embedder(embedder)
    except ValueError as e:
        raise InputError(f"--embedder: {e}") from None
    current = conn.execute(
        select(runs_t.c.options)
        .join(collections_t, collections_t.c.current_run_id == runs_t.c.id)
        .where(collections_t.c.id == collection_id)
    ).scalar_one_or_none()
    kept = {k: v for k, v in (current or {}).items() if k not in _NOT_PIPELINE}
    options = {**kept, "embeddings": True, "embedder": embedder, "reembed": True, "force": True}
    return request_processing(
        conn, collection_id, options=options, kind=REEMBED, deadline_seconds=deadline_seconds
    )


def reembed_document(
    engine: Engine, document_id: int, embedder: Embedder
) -> ProcessedDocument | None:
    """The document's stored chunks with new embeddings and its stored metadata, or None
    when it has no chunks (process its file instead)."""
    c, d = chunks_t.c, documents_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(c.ordinal, c.text, c.start_offset, c.end_offset, c.token_count)
            .where(c.document_id == document_id)
            .order_by(c.ordinal)
        ).all()
        metadata: Any = conn.execute(
            select(d.metadata).where(d.id == document_id)
        ).scalar_one_or_none()
    if not rows:
        return None
    chunks = [
        TextChunk(r.ordinal, r.text, r.start_offset, r.end_offset, r.token_count) for r in rows
    ]
    vectors = embedder.embed([chunk.text for chunk in chunks])
    return ProcessedDocument(chunks, vectors, embedder.model_name, metadata)
