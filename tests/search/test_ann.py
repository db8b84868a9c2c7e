"""The derived index of large collections: as good as exact search, never showing a chunk
the database no longer has, and saying when it is stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from fileintel.db import read_tx, write_tx
from fileintel.models.tables import chunks_t, documents_t
from fileintel.pipeline.embedding import get_embedder, to_bytes
from fileintel.search import ann
from fileintel.search.query import SearchRequest, search
from fileintel.workers.actors import DocumentWorker
from tests.search.support import ask, processed

TOPICS = ["bees and honey", "tax returns", "volcano lava", "sourdough bread", "tides"]


@pytest.fixture
def large(
    engine: Engine, worker: DocumentWorker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A collection of 40 documents searched through the index (the threshold lowered)."""
    monkeypatch.setattr(ann, "EXACT_LIMIT", 10)
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(40):
        topic = TOPICS[i % len(TOPICS)]
        (folder / f"doc-{i:02}.txt").write_text(f"Note {i} about {topic}. " * 5 + "\n")
    return processed(engine, worker, folder, "large", "wordllama")


def test_index_gives_the_exact_results_and_is_kept_between_searches(
    engine: Engine, large: str, tmp_path: Path
) -> None:
    announced: list[str] = []
    with read_tx(engine) as conn:
        first = search(conn, large, SearchRequest("honey", 5, "vector"), tmp_path, announced.append)
    assert first.method == "index" and len(announced) == 1  # built once, and said so
    exact = ask(engine, large, "honey", tmp_path, mode="vector", exact=True)
    assert [h.chunk_id for h in first.hits] == [h.chunk_id for h in exact.hits]
    again = ask(engine, large, "honey", tmp_path, mode="vector")
    assert again.method == "index" and again.notes == []
    assert sorted(tmp_path.glob("*.usearch"))  # the derived file


def test_deleted_chunks_are_never_shown_and_staleness_is_reported(
    engine: Engine, large: str, tmp_path: Path
) -> None:
    before = ask(engine, large, "honey", tmp_path, mode="vector", top=3)
    gone = before.hits[0].document_id
    with write_tx(engine) as conn:  # behind the index's back: no counter moves
        conn.execute(delete(chunks_t).where(chunks_t.c.document_id == gone))
    after = ask(engine, large, "honey", tmp_path, mode="vector", top=3)
    assert after.method == "index"
    assert gone not in {h.document_id for h in after.hits}
    assert len(after.hits) == 3
    with write_tx(engine) as conn:  # new chunks past the build: found, and stale said
        doc = conn.execute(
            select(documents_t.c.id)
            .where(documents_t.c.collection_id == large, documents_t.c.id != gone)
            .limit(1)
        ).scalar_one()
        row = conn.execute(select(chunks_t).where(chunks_t.c.document_id == doc)).first()
        assert row is not None
        values = {**row._asdict(), "ordinal": 99, "text": "Brand new honey harvest."}
        values.pop("id")
        conn.execute(chunks_t.insert().values(values))
        conn.execute(
            chunks_t.update()
            .where(chunks_t.c.document_id == doc, chunks_t.c.ordinal == 99)
            .values(embedding=ask_vector("honey"))
        )
    stale = ask(engine, large, "honey", tmp_path, mode="vector", top=1)
    assert stale.hits[0].chunk == 99
    assert any("stale" in note for note in stale.notes)


def ask_vector(text: str) -> bytes:
    return to_bytes(get_embedder("wordllama").embed([text])[0])
