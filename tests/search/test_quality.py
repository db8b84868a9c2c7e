"""Retrieval quality at a small scale: the shipped default finds answers asked in other
words, where the hashing embedder cannot (``benchmarks/search`` measures the whole set)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from benchmarks.search.retrieval_set import ITEMS, write_documents
from fileintel.workers.actors import DocumentWorker
from tests.search.support import ask, processed

#: Every third item of the labelled set: 20 documents, 40 questions, two from each handbook.
SAMPLE = ITEMS[::3]


def recall_at_5(engine: Engine, collection_id: str, kind: str, mode: str, index: Path) -> float:
    found = 0
    for item in SAMPLE:
        question = item.paraphrase if kind == "paraphrase" else item.keyword
        hits = ask(engine, collection_id, question, index, mode=mode).hits
        found += item.name in [Path(h.path).stem for h in hits]
    return found / len(SAMPLE)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # ranking is not per database
def test_default_search_answers_paraphrases_that_hashing_misses(
    engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    write_documents(folder)
    for path in folder.iterdir():
        if path.stem not in {item.name for item in SAMPLE}:
            path.unlink()
    semantic = processed(engine, worker, folder, "semantic", "wordllama")
    hashed = processed(engine, worker, folder, "hashed", "hashing")
    index = tmp_path / "index"
    assert recall_at_5(engine, semantic, "keyword", "hybrid", index) == 1.0
    paraphrase = recall_at_5(engine, semantic, "paraphrase", "hybrid", index)
    baseline = recall_at_5(engine, hashed, "paraphrase", "vector", index)
    assert paraphrase >= 0.75
    assert paraphrase >= baseline + 0.4
