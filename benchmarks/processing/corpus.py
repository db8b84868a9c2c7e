"""The processing benchmark's corpus: mixed documents (txt, md, html, pdf), 20–50 KB each.

Generated from a seed, so every run (and every machine) processes the same bytes. Each
document starts with a unique line, so none is a duplicate of another.
"""

from __future__ import annotations

import random
from pathlib import Path

MIN_BYTES, MAX_BYTES = 20_000, 50_000

_VOCABULARY = (
    "data model system process queue worker status document collection chunk embedding "
    "network protocol latency throughput storage index query result cache memory thread "
    "river mountain forest ocean harbour valley glacier desert island meadow canyon "
    "history economy policy market growth inflation trade energy climate research science"
)


# --- the corpus ---------------------------------------------------------------------------


def _paragraphs(rng: random.Random, size: int) -> list[str]:
    words_of = _VOCABULARY.split()
    out: list[str] = []
    total = 0
    while total < size:
        sentences = []
        for _ in range(rng.randint(3, 7)):
            words = [rng.choice(words_of) for _ in range(rng.randint(8, 20))]
            sentences.append(" ".join(words).capitalize() + ".")
        paragraph = " ".join(sentences)
        room = size - total
        if len(paragraph) >= room:  # the last one is cut at a word to land on ``size``
            out.append(paragraph[:room].rsplit(" ", 1)[0] + ".")
            return out
        out.append(paragraph)
        total += len(paragraph) + 2
    return out


def generate_corpus(root: Path, count: int, seed: int) -> list[Path]:
    """Write ``count`` documents (txt, md, html, pdf in turn; 20–50 KB) under ``root``."""
    from fileintel.pipeline.pdfgen import write_minimal_pdf

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    kinds = ("txt", "md", "html", "pdf")
    for i in range(count):
        kind = kinds[i % len(kinds)]
        size = rng.randint(MIN_BYTES + 300, MAX_BYTES - 200)  # margin for the rounding below
        # A unique first line: no two documents share content (no duplicates to skip).
        # Markup costs bytes: HTML ~2% (tags), PDF ~20% (text operators on every line).
        text_size = int(size * {"txt": 0.995, "md": 0.995, "html": 0.98, "pdf": 0.83}[kind])
        paragraphs = [f"Document {i} of seed {seed}.", *_paragraphs(rng, text_size)]
        path = root / f"doc-{i:05d}.{kind}"
        if kind == "txt":
            path.write_text("\n\n".join(paragraphs), encoding="utf-8")
        elif kind == "md":
            path.write_text(f"# Document {i}\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
        elif kind == "html":
            body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
            path.write_text(
                f"<html><head><title>Document {i}</title></head><body>{body}</body></html>",
                encoding="utf-8",
            )
        else:
            pages, page, used = [], [], 0
            for p in paragraphs:
                page.append(p)
                used += len(p)
                if used > 2500:
                    pages.append("\n".join(page))
                    page, used = [], 0
            if page:
                pages.append("\n".join(page))
            write_minimal_pdf(path, pages, title=f"Document {i}")
        paths.append(path)
    return paths
