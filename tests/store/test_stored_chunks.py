"""Every stored chunk field is what the pipeline produced (both backends).

PostgreSQL writes chunks with a hand-built binary COPY, SQLite with the driver's
executemany: both must store exactly the pipeline's text, offsets, token count and float32
embedding bytes, with the model and dimension, or nothing for the embedding when the run
asked for none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from fileintel.db import read_tx
from fileintel.models.tables import chunks_t, documents_t
from fileintel.pipeline import PipelineOptions, get_embedder, process_file, to_bytes
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, deliver_outbox
from tests.store.test_database_work import queue_corpus

#: Every column but the keys, in table order (the order ``expected`` builds its tuples in).
FIELDS = tuple(c.name for c in chunks_t.columns if c.name not in ("id", "document_id", "ordinal"))


def stored(engine: Engine, collection_id: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    """(path, ordinal) -> the stored fields of every chunk of the collection."""
    c, d = chunks_t.c, documents_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(d.path, c.ordinal, *(c[name] for name in FIELDS))
            .join(documents_t, d.id == c.document_id)
            .where(d.collection_id == collection_id)
        ).all()
    return {(r.path, r.ordinal): tuple(r)[2:] for r in rows}


def expected(
    corpus: Corpus, collection_id: str, embeddings: bool
) -> dict[tuple[str, int], tuple[Any, ...]]:
    """The same map computed by the pipeline alone."""
    options = PipelineOptions(embeddings=embeddings)
    embedder = get_embedder()
    out: dict[tuple[str, int], tuple[Any, ...]] = {}
    for e in corpus.good:
        result = process_file(Path(e.path), options, embedder)
        for i, chunk in enumerate(result.chunks):
            vector = result.embeddings[i] if result.embeddings is not None else None
            out[(e.path, chunk.ordinal)] = (
                collection_id,
                chunk.text,
                chunk.start,
                chunk.end,
                chunk.token_count,
                to_bytes(vector) if vector is not None else None,
                result.embedding_model if vector is not None else None,
                len(vector) if vector is not None else None,
            )
    return out


@pytest.mark.parametrize("embeddings", [True, False], ids=["embeddings", "no-embeddings"])
def test_stored_chunks_are_the_pipelines_output(
    engine: Engine, worker: DocumentWorker, corpus: Corpus, embeddings: bool
) -> None:
    collection_id, _run = queue_corpus(engine, corpus, no_embeddings=not embeddings)
    deliver_outbox(engine, worker)
    got = stored(engine, collection_id)
    want = expected(corpus, collection_id, embeddings)
    assert len(got) == corpus.total_chunks
    assert got.keys() == want.keys()
    for key, fields in want.items():
        assert got[key] == fields, key
