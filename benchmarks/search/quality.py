"""Retrieval quality: recall@1, recall@5 and MRR of every search method, in one run.

    .venv/bin/python -m benchmarks.search quality [--database-url URL]

The labelled set (``retrieval_set``: 60 documents, 120 questions, half paraphrases) is
ingested twice through the real ``fileintel ingest`` (embedded mode, a SQLite file of its
own unless ``--database-url``), once with ``FILEINTEL_EMBEDDER=hashing`` and once with the
default (wordllama). Each question is then searched with ``fileintel.search.query.search``:

- **hashing**: by meaning with the hashing embedder (the old default);
- **wordllama**: by meaning with the new default;
- **lexical**: the database's lexical index alone;
- **hybrid**: both fused (the default mode).

A question is answered at rank r when its document's chunk is the r-th hit (MRR over the
top 10). The embedding cost per chunk of both embedders is measured on the set's chunks.
Targets (issue 17): hybrid recall@5 >= 0.9, and on the paraphrases hybrid's recall@5 at
least 0.25 above hashing's.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common.report import verdict
from benchmarks.search.retrieval_set import questions, write_documents
from fileintel.cli import main as cli
from fileintel.db import get_engine, read_tx
from fileintel.pipeline.embedding import get_embedder
from fileintel.search.query import SearchRequest, search
from fileintel.store.collections import find_collection

TOP = 10
METHODS = {  # name: (collection's embedder, search mode)
    "hashing": ("hashing", "vector"),
    "wordllama": ("wordllama", "vector"),
    "lexical": ("wordllama", "lexical"),
    "hybrid": ("wordllama", "hybrid"),
}


@dataclass(frozen=True)
class Scores:
    """The measures of one method over a set of questions."""

    recall_1: float
    recall_5: float
    mrr: float


@contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ingest(url: str, folder: Path, collection: str, embedder: str) -> None:
    """``fileintel ingest`` in this process with ``FILEINTEL_EMBEDDER=embedder``."""
    with _env(FILEINTEL_EMBEDDER=embedder):
        code = cli(["--database-url", url, "ingest", str(folder), "--collection", collection])
    if code != 0:
        raise SystemExit(f"ingest of {collection} exited {code}")


def ranks(url: str, index_dir: Path) -> dict[str, list[tuple[str, int | None]]]:
    """Per method, (question kind, rank of the answer or None) for every question."""
    engine = get_engine(url)
    out: dict[str, list[tuple[str, int | None]]] = {}
    with read_tx(engine) as conn:
        for method, (embedder, mode) in METHODS.items():
            collection = find_collection(conn, f"eval-{embedder}")
            found = []
            for question, kind, answer in questions():
                result = search(conn, collection.id, SearchRequest(question, TOP, mode), index_dir)
                names = [Path(h.path).stem for h in result.hits]
                found.append((kind, names.index(answer) + 1 if answer in names else None))
            out[method] = found
    return out


def score(found: list[tuple[str, int | None]], kind: str | None = None) -> Scores:
    """Recall@1, recall@5 and MRR of the questions of ``kind`` (all when None)."""
    picked = [r for k, r in found if kind is None or k == kind]
    n = len(picked)
    return Scores(
        sum(r == 1 for r in picked) / n,
        sum(r is not None and r <= 5 for r in picked) / n,
        sum(1 / r for r in picked if r is not None) / n,
    )


def embedding_cost(texts: list[str]) -> dict[str, float]:
    """Milliseconds per chunk of each embedder (the model already loaded), best of 3."""
    cost = {}
    for name in ("hashing", "wordllama"):
        embedder = get_embedder(name)
        embedder.embed(texts[:4])
        best = min(_timed(embedder.embed, texts) for _ in range(3))
        cost[name] = 1000 * best / len(texts)
    return cost


def _timed(fn: object, texts: list[str]) -> float:
    started = time.perf_counter()
    fn(texts)  # type: ignore[operator]
    return time.perf_counter() - started


def run(database_url: str | None) -> int:
    """Ingest, search, print the table; 0 when both targets are met."""
    with tempfile.TemporaryDirectory(prefix="fileintel-quality-") as tmp:
        folder = Path(tmp) / "docs"
        paths = write_documents(folder)
        url = database_url or f"sqlite:///{Path(tmp) / 'quality.db'}"
        if database_url is None:
            cli(["--database-url", url, "db", "upgrade"])
        for embedder in ("hashing", "wordllama"):
            ingest(url, folder, f"eval-{embedder}", embedder)
        found = ranks(url, Path(tmp) / "indexes")
        texts = [p.read_text() for p in paths.values()] * 20
        cost = embedding_cost(texts)
    print(f"{len(questions())} questions on {len(paths)} documents (half paraphrases)\n")
    print(f"{'method':<10} {'set':<11} {'recall@1':>8} {'recall@5':>8} {'MRR':>6}")
    table = {}
    for method, rows in found.items():
        for kind in (None, "keyword", "paraphrase"):
            s = score(rows, kind)
            table[(method, kind)] = s
            print(
                f"{method:<10} {kind or 'all':<11} {s.recall_1:>8.3f} {s.recall_5:>8.3f} "
                f"{s.mrr:>6.3f}"
            )
    print("\nembedding cost per chunk: " + ", ".join(f"{k} {v:.3f} ms" for k, v in cost.items()))
    hybrid = table[("hybrid", None)].recall_5
    gain = table[("hybrid", "paraphrase")].recall_5 - table[("hashing", "paraphrase")].recall_5
    ok_recall, ok_gain = hybrid >= 0.9, gain >= 0.25
    print(f"target hybrid recall@5 >= 0.9: {hybrid:.3f} ({verdict(ok_recall)})")
    print(f"target paraphrase recall@5 gain over hashing >= 0.25: {gain:+.3f} ({verdict(ok_gain)})")
    return 0 if ok_recall and ok_gain else 1
