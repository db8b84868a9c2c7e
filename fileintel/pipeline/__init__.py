"""Document processing as pure functions: file -> text -> chunks -> embeddings + metadata.

Nothing here touches the database or the broker; callers decide what to store.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fileintel.errors import DocumentError
from fileintel.pipeline.chunking import TextChunk, chunk_text
from fileintel.pipeline.embedding import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    from_bytes,
    get_embedder,
    to_bytes,
)
from fileintel.pipeline.extract import Extracted, extract
from fileintel.pipeline.media import SUPPORTED_MEDIA_TYPES, detect_media_type
from fileintel.pipeline.metadata import build_metadata, detect_language

__all__ = [
    "SUPPORTED_MEDIA_TYPES",
    "Embedder",
    "Extracted",
    "HashingEmbedder",
    "PipelineOptions",
    "ProcessedDocument",
    "SentenceTransformerEmbedder",
    "TextChunk",
    "build_metadata",
    "chunk_text",
    "detect_language",
    "detect_media_type",
    "extract",
    "file_sha256",
    "from_bytes",
    "get_embedder",
    "process_file",
    "to_bytes",
]

_READ_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class PipelineOptions:
    """What to compute for each document; stored with a run so results can be compared."""

    embeddings: bool = True
    metadata: bool = True
    chunk_size: int = 1200
    chunk_overlap: int = 200

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError(
                f"chunk_overlap must be in [0, chunk_size), got {self.chunk_overlap} "
                f"for chunk_size {self.chunk_size}"
            )

    def as_dict(self) -> dict[str, Any]:
        """Return the options as a plain dict with sorted keys (stable for storage/compare)."""
        return dict(sorted(asdict(self).items()))


@dataclass(frozen=True)
class ProcessedDocument:
    """Everything the pipeline produced for one file."""

    chunks: list[TextChunk]
    embeddings: np.ndarray | None
    embedding_model: str | None
    metadata: dict[str, Any] | None


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def process_file(
    path: Path,
    options: PipelineOptions,
    embedder: Embedder | None = None,
    *,
    media_type: str | None = None,
    sha256: str | None = None,
) -> ProcessedDocument:
    """Extract, chunk, embed and describe one file; raise DocumentError if it cannot be used."""
    path = Path(path)
    extracted = extract(path, media_type)
    chunks = chunk_text(extracted.text, options.chunk_size, options.chunk_overlap)
    if not chunks:
        raise DocumentError("no text content", str(path))
    embeddings: np.ndarray | None = None
    model_name: str | None = None
    if options.embeddings:
        active = embedder if embedder is not None else get_embedder()
        embeddings = active.embed([chunk.text for chunk in chunks])
        model_name = active.model_name
    metadata: dict[str, Any] | None = None
    if options.metadata:
        try:
            digest = sha256 or file_sha256(path)
            size = path.stat().st_size
        except OSError as e:
            raise DocumentError(f"cannot read file: {e.strerror or e}", str(path)) from None
        metadata = build_metadata(extracted, sha256=digest, size=size)
    return ProcessedDocument(chunks, embeddings, model_name, metadata)
