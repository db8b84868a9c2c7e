"""A corpus to process and what processing it must give (store, workers, runtime, system).

- ``make_mixed_corpus(root)``: ten files of every kind a user drops into a folder (txt, md,
  html, pdf, a latin-1 text, a corrupt PDF, an empty file, a binary file), each with the
  outcome the pipeline gives it when called directly (``process_file``): state, reason and
  chunk count. The processing system must reproduce exactly that.
- ``deliver_outbox``: hand the outbox's dispatch rows straight to a ``DocumentWorker``, in
  this thread, for tests of the database operations without a broker or a relay.
- ``assert_documents_match`` / ``document_rows`` / ``chunk_rows``: what the database holds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from fileintel.config import Settings
from fileintel.db import db_now, read_tx, write_tx
from fileintel.errors import DocumentError
from fileintel.messaging import PROCESS_DOCUMENT_ACTOR, START_RUN_ACTOR
from fileintel.models.tables import chunks_t, collections_t, documents_t, outbox_t, runs_t
from fileintel.pipeline import PipelineOptions, process_file
from fileintel.pipeline.pdfgen import write_minimal_pdf
from fileintel.store.outbox_rows import DISPATCH
from fileintel.workers.actors import DocumentWorker

#: Each good document talks about one topic, so a query naming a topic finds its document.
TOPICS: dict[str, str] = {
    "astronomy": "telescope nebula galaxy orbit comet planet asteroid spectrum quasar",
    "baking": "flour yeast dough oven crust butter knead sourdough proofing",
    "gardening": "compost seedling mulch pruning tomato soil trellis watering perennial",
    "volcanoes": "basalt magma eruption lava caldera tephra pyroclastic vent obsidian",
    "sailing": "mainsail jib tack halyard keel rudder mooring spinnaker regatta",
    "chess": "gambit rook bishop endgame castling checkmate pawn knight opening",
}
FILLER = "the a of and with while during after before under over each every"


def topic_text(rng: random.Random, topic: str, words: int) -> str:
    """``words`` words of sentences about ``topic``, split into paragraphs."""
    vocabulary, filler = TOPICS[topic].split(), FILLER.split()
    sentences: list[str] = []
    count = 0
    while count < words:
        n = rng.randint(8, 16)
        sentence = [rng.choice(vocabulary if rng.random() < 0.6 else filler) for _ in range(n)]
        sentences.append(" ".join(sentence).capitalize() + ".")
        count += n
    paragraphs = [" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6)]
    return "\n\n".join(paragraphs)


@dataclass(frozen=True)
class Expected:
    """What processing one file must give: the pipeline's own answer for it."""

    name: str
    path: str
    state: str
    error: str | None
    chunks: int


@dataclass(frozen=True)
class Corpus:
    """Files written under ``root`` and the expected outcome of each, by resolved path."""

    root: Path
    expected: dict[str, Expected]

    @property
    def good(self) -> list[Expected]:
        """Files the pipeline processes."""
        return [e for e in self.expected.values() if e.state == "done"]

    @property
    def bad(self) -> list[Expected]:
        """Files the pipeline rejects with a DocumentError."""
        return [e for e in self.expected.values() if e.state == "failed"]

    def by_name(self, name: str) -> Expected:
        """The expected outcome of the file called ``name``."""
        return next(e for e in self.expected.values() if e.name == name)

    @property
    def total_chunks(self) -> int:
        """Chunks of every good file together."""
        return sum(e.chunks for e in self.good)


def pipeline_outcome(
    path: Path, options: PipelineOptions | None = None
) -> tuple[str, str | None, int]:
    """(state, error, chunks) that ``process_file`` gives ``path`` outside any system."""
    try:
        result = process_file(path, options or PipelineOptions())
    except DocumentError as e:
        return "failed", e.reason, 0
    return "done", None, len(result.chunks)


def make_mixed_corpus(root: Path, seed: int = 20240611) -> Corpus:
    """Write ten documents of every kind into ``root`` (7 good, 3 that must fail)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "astronomy-notes.txt").write_text(topic_text(rng, "astronomy", 700), encoding="utf-8")
    (root / "baking-guide.md").write_text(
        "# Baking guide\n\n" + topic_text(rng, "baking", 600), encoding="utf-8"
    )
    body = "".join(f"<p>{p}</p>\n" for p in topic_text(rng, "gardening", 600).split("\n\n"))
    (root / "gardening.html").write_text(
        f"<html><head><title>Gardening</title></head><body><h1>Gardening</h1>\n{body}"
        "<script>var ignored = 1;</script></body></html>",
        encoding="utf-8",
    )
    write_minimal_pdf(
        root / "volcanoes-report.pdf",
        [topic_text(rng, "volcanoes", 350), topic_text(rng, "volcanoes", 350)],
        title="Volcanoes",
        author="Field Team",
    )
    write_minimal_pdf(root / "sailing-slides.pdf", [topic_text(rng, "sailing", 500)])
    (root / "chess-openings.txt").write_text(topic_text(rng, "chess", 400), encoding="utf-8")
    latin = (
        "Le café de la gare était très agréable; à Genève on parle français. "
        "Über die Brücke gehen wir später, déjà vu, naïve façade. "
    ) * 25
    (root / "cafe-latin1.txt").write_bytes(latin.encode("latin-1"))
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\n" + rng.randbytes(3000))
    (root / "empty.txt").write_bytes(b"")
    (root / "blob.bin").write_bytes(bytes([0, 159, 146, 150]) + rng.randbytes(4000))
    expected: dict[str, Expected] = {}
    for path in sorted(root.iterdir()):
        resolved = str(path.resolve())
        state, error, chunks = pipeline_outcome(path)
        expected[resolved] = Expected(path.name, resolved, state, error, chunks)
    return Corpus(root, expected)


# --- reading the database -----------------------------------------------------------------


def settings_for(database_url: str, **changes: Any) -> Settings:
    """Settings for in-process tests on ``database_url`` (embedded broker, hashing embedder)."""
    return Settings(database_url=database_url).with_overrides(**changes)


def collection_row(engine: Engine, name_or_id: str) -> Any:
    """The collection row by name or id."""
    c = collections_t.c
    with read_tx(engine) as conn:
        return conn.execute(
            select(collections_t).where((c.name == name_or_id) | (c.id == name_or_id))
        ).one()


def run_row(engine: Engine, run_id: str) -> Any:
    """The run row."""
    with read_tx(engine) as conn:
        return conn.execute(select(runs_t).where(runs_t.c.id == run_id)).one()


def document_rows(engine: Engine, collection_id: str) -> dict[str, Any]:
    """The collection's documents by path."""
    d = documents_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(select(documents_t).where(d.collection_id == collection_id)).all()
    return {r.path: r for r in rows}


def chunk_rows(engine: Engine, collection_id: str) -> list[tuple[Any, ...]]:
    """Every chunk of a collection (id included) in id order."""
    c = chunks_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(
                c.id, c.document_id, c.ordinal, c.text, c.start_offset, c.end_offset, c.embedding
            )
            .where(c.collection_id == collection_id)
            .order_by(c.id)
        ).all()
    return [tuple(r) for r in rows]


def counters(row: Any) -> dict[str, int]:
    """The documents_* and chunks_* counters of a collection or run row."""
    names = [k for k in row._mapping if k.startswith(("documents_", "chunks_"))]
    return {k: row._mapping[k] for k in names}


def terminal_status(engine: Engine, collection_id: str) -> str | None:
    """The collection's status when it is terminal, else None (for ``wait_for``)."""
    status = collection_row(engine, collection_id).status
    return status if status in TERMINAL else None


TERMINAL = ("completed", "completed_with_errors", "failed", "cancelled")


def assert_documents_match(documents: list[dict[str, Any]], corpus: Corpus) -> None:
    """``collections documents --json`` rows agree exactly with the pipeline's own outcomes."""
    got = {d["path"]: (d["state"], d["error"], d["chunks"]) for d in documents}
    want = {e.path: (e.state, e.error, e.chunks) for e in corpus.expected.values()}
    assert got == want


def assert_chunks_match(engine: Engine, collection_id: str, corpus: Corpus) -> None:
    """The chunk rows per document are as many as the pipeline gives, with embeddings."""
    c, d = chunks_t.c, documents_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(d.path, c.ordinal, c.embedding_dim)
            .join(documents_t, d.id == c.document_id)
            .where(c.collection_id == collection_id)
        ).all()
    per_path: dict[str, list[int]] = {}
    for r in rows:
        assert r.embedding_dim == 256, f"chunk {r.ordinal} of {r.path} has no embedding"
        per_path.setdefault(r.path, []).append(r.ordinal)
    want = {e.path: list(range(e.chunks)) for e in corpus.good}
    assert {p: sorted(o) for p, o in per_path.items()} == want


# --- delivering the outbox without a broker -----------------------------------------------


def deliver_outbox(engine: Engine, worker: DocumentWorker, *, times: int = 1) -> int:
    """Hand every unpublished dispatch row to ``worker`` in id order, ``times`` times each.

    A relay and a broker reduced to a loop in this thread: rows are marked published first,
    then their message is delivered (redelivered when ``times`` > 1). Repeats until no
    dispatch row is left (start_run fans out new ones). Returns how many rows it handled.
    """
    o = outbox_t.c
    handled = 0
    while True:
        with write_tx(engine) as conn:
            rows = conn.execute(
                select(o.id, o.payload)
                .where(o.kind == DISPATCH, o.published_at.is_(None))
                .order_by(o.id)
            ).all()
            if rows:
                conn.execute(
                    update(outbox_t)
                    .where(o.id.in_([r.id for r in rows]))
                    .values(published_at=db_now())
                )
        if not rows:
            return handled
        for row in rows:
            deliver(worker, row.payload, times=times)
            handled += 1


def deliver(worker: DocumentWorker, payload: Mapping[str, Any], *, times: int = 1) -> None:
    """Run one dispatched message's actor body ``times`` times."""
    args = list(payload["args"])
    for _ in range(times):
        if payload["actor_name"] == START_RUN_ACTOR:
            worker.start_run(*args)
        elif payload["actor_name"] == PROCESS_DOCUMENT_ACTOR:
            worker.process_document(*args)
        else:  # pragma: no cover - a new actor needs a line here
            raise AssertionError(f"unknown actor {payload['actor_name']}")
