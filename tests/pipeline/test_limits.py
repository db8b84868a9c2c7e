"""One document's limits and bounded reading: big text files streamed with the same chunks
as a whole read, and each limit refusing with a reason that names its variable."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fileintel.pipeline as pipeline
from fileintel.errors import DocumentError
from fileintel.pipeline import Limits, PipelineOptions, chunk_text, process_file
from fileintel.pipeline.chunking import iter_chunks
from fileintel.pipeline.pdfgen import write_minimal_pdf

WORDS = ["orbit", "harbour", "café", "lattice.", "meadow\n\n", "quartz!", "signal\r\n", "über"]


def text_file(path: Path, words: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    path.write_bytes(text.encode("utf-8"))
    return text.replace("\r\n", "\n")


@given(st.text(alphabet=" \n\tab.!?c", max_size=400), st.lists(st.integers(0, 400), max_size=8))
def test_chunks_of_pieces_are_the_chunks_of_the_whole(text: str, cuts: list[int]) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    assert list(iter_chunks(pieces, 40, 10)) == chunk_text(text, 40, 10)


def test_a_big_text_file_is_streamed_with_the_chunks_and_words_of_a_whole_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.txt"
    text = text_file(path, 60_000)
    whole = process_file(path, PipelineOptions())
    monkeypatch.setattr(pipeline, "STREAM_BYTES", 1024)
    monkeypatch.setattr("fileintel.pipeline.text_stream.BLOCK_BYTES", 4099)  # cuts characters
    streamed = process_file(path, PipelineOptions())
    assert streamed.chunks == whole.chunks == chunk_text(text)
    assert streamed.embeddings is not None and whole.embeddings is not None
    assert (streamed.embeddings == whole.embeddings).all()
    assert streamed.metadata is not None and whole.metadata is not None
    assert streamed.metadata["word_count"] == whole.metadata["word_count"] == len(text.split())
    assert streamed.metadata["language"] == whole.metadata["language"]


def test_each_limit_names_its_variable(tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    text_file(path, 20_000)
    chunks = len(process_file(path, PipelineOptions()).chunks)
    pdf = tmp_path / "pages.pdf"
    write_minimal_pdf(pdf, [f"page {i} text" for i in range(12)])
    cases = [
        (path, Limits(max_file_bytes=1000), "FILEINTEL_MAX_FILE_MB"),
        (path, Limits(max_chunks=chunks - 1), "FILEINTEL_MAX_CHUNKS_PER_DOCUMENT"),
        (pdf, Limits(max_pages=11), "PDF has 12 pages, over the 11 page limit"),
        (path, Limits(timeout_seconds=0.0), "FILEINTEL_DOCUMENT_TIMEOUT_SECONDS"),
    ]
    for file, limits, named in cases:
        with pytest.raises(DocumentError) as refused:
            process_file(file, PipelineOptions(), limits=limits)
        assert named in refused.value.reason
    assert len(process_file(path, PipelineOptions(), limits=Limits(max_chunks=chunks)).chunks)
    assert process_file(pdf, PipelineOptions(), limits=Limits(max_pages=12)).metadata
