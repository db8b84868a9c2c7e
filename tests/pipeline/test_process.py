from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fileintel.errors import DocumentError
from fileintel.pipeline import (
    PipelineOptions,
    ProcessedDocument,
    file_sha256,
    get_embedder,
    process_file,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
EXAMPLE_FILES = sorted(EXAMPLES.iterdir())


class ConstantEmbedder:
    model_name = "constant-test"
    dimension = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.tile(np.array([1.0, 0.0, 0.0], dtype=np.float32), (len(texts), 1))


def test_examples_folder_has_every_format() -> None:
    suffixes = {p.suffix for p in EXAMPLE_FILES}
    assert {".txt", ".md", ".html", ".pdf", ".rst", ".csv", ".json"} <= suffixes
    assert 6 <= len(EXAMPLE_FILES) <= 8


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_example_processes(path: Path) -> None:
    doc = process_file(path, PipelineOptions())
    assert doc.chunks
    assert doc.embeddings is not None
    assert doc.embeddings.shape == (len(doc.chunks), 256)
    assert doc.embedding_model == "wordllama-l2_supercat-256"
    assert doc.metadata is not None
    assert doc.metadata["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.metadata["size"] == path.stat().st_size
    assert doc.metadata["word_count"] > 20
    assert doc.metadata["language"] in ("en", None)


def test_chunk_options_are_used(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("Sentence number one is here. " * 200, encoding="utf-8")
    doc = process_file(path, PipelineOptions(chunk_size=300, chunk_overlap=50))
    assert len(doc.chunks) > 10
    assert all(len(c.text) <= 300 for c in doc.chunks)


def test_embeddings_off(tmp_path: Path) -> None:
    doc = process_file(EXAMPLES / "02-accessioning.txt", PipelineOptions(embeddings=False))
    assert doc.embeddings is None
    assert doc.embedding_model is None
    assert doc.chunks and doc.metadata is not None


def test_metadata_off() -> None:
    doc = process_file(EXAMPLES / "02-accessioning.txt", PipelineOptions(metadata=False))
    assert doc.metadata is None
    assert doc.embeddings is not None


def test_given_embedder_and_sha256_are_used() -> None:
    embedder = ConstantEmbedder()
    doc = process_file(
        EXAMPLES / "01-introduction.md", PipelineOptions(), embedder, sha256="f" * 64
    )
    assert isinstance(doc, ProcessedDocument)
    assert doc.embedding_model == "constant-test"
    assert doc.embeddings is not None and doc.embeddings.shape == (len(doc.chunks), 3)
    assert embedder.calls == [[c.text for c in doc.chunks]]
    assert doc.metadata is not None
    assert doc.metadata["sha256"] == "f" * 64
    assert doc.metadata["title"] == "Cataloguing a Small Library"


def test_media_type_override(tmp_path: Path) -> None:
    path = tmp_path / "notes.dat"
    path.write_text("Some words in a file with an odd name.", encoding="utf-8")
    with pytest.raises(DocumentError, match="unsupported media type application/octet-stream"):
        process_file(path, PipelineOptions())
    doc = process_file(path, PipelineOptions(), media_type="text/plain")
    assert doc.metadata is not None and doc.metadata["media_type"] == "text/plain"


def test_document_errors_propagate(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(DocumentError, match="file is empty"):
        process_file(path, PipelineOptions())


def test_pdf_metadata() -> None:
    doc = process_file(EXAMPLES / "05-handling-and-care.pdf", PipelineOptions())
    assert doc.metadata is not None
    assert doc.metadata["pages"] == 2
    assert doc.metadata["title"] == "Handling and Care of the Collection"
    assert doc.metadata["authors"] == ["Library Volunteer Team"]
    assert doc.metadata["language"] == "en"


def test_options_validation_and_as_dict() -> None:
    for kwargs in (
        {"chunk_size": 0},
        {"chunk_overlap": -1},
        {"chunk_size": 100, "chunk_overlap": 100},
    ):
        with pytest.raises(ValueError):
            PipelineOptions(**kwargs)  # type: ignore[arg-type]
    options = PipelineOptions(embeddings=False, chunk_size=800)
    assert options.as_dict() == {
        "chunk_overlap": 200,
        "chunk_size": 800,
        "embeddings": False,
        "metadata": True,
    }
    assert list(options.as_dict()) == sorted(options.as_dict())
    assert PipelineOptions(**options.as_dict()) == options


def test_file_sha256_streams_large_files(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MB, not a multiple of the block size
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_default_embedder_matches_get_embedder() -> None:
    path = EXAMPLES / "02-accessioning.txt"
    doc = process_file(path, PipelineOptions())
    assert doc.embeddings is not None
    expected = get_embedder().embed([c.text for c in doc.chunks])
    np.testing.assert_array_equal(doc.embeddings, expected)
