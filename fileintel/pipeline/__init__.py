"""Document processing as pure functions: file -> text -> chunks -> embeddings + metadata.

Nothing here touches the database or the broker; callers decide what to store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fileintel.errors import DocumentError
from fileintel.pipeline.chunking import TextChunk, chunk_text, iter_chunks
from fileintel.pipeline.embedding import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    from_bytes,
    get_embedder,
    to_bytes,
)
from fileintel.pipeline.extract import Extracted, check_file, extract, text_title
from fileintel.pipeline.limits import Deadline, Limits
from fileintel.pipeline.media import SUPPORTED_MEDIA_TYPES, detect_media_type
from fileintel.pipeline.metadata import build_metadata, detect_language
from fileintel.pipeline.text_stream import STREAM_BYTES, open_text_stream

__all__ = [
    "SUPPORTED_MEDIA_TYPES",
    "Embedder",
    "Extracted",
    "HashingEmbedder",
    "Limits",
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


#: Chunks embedded together: a document's embedding work is checked against its deadline
#: between batches, and no batch's intermediates grow with the document.
EMBED_BATCH = 1024
#: Media types read as plain text, which are streamed when big (``text_stream``).
_STREAMABLE = frozenset(
    {"text/plain", "text/markdown", "text/x-rst", "text/csv", "application/json"}
)


def process_file(
    path: Path,
    options: PipelineOptions,
    embedder: Embedder | None = None,
    *,
    media_type: str | None = None,
    sha256: str | None = None,
    limits: Limits | None = None,
) -> ProcessedDocument:
    """Extract, chunk, embed and describe one file; raise DocumentError if it cannot be used.

    Memory stays bounded by ``limits`` whatever the file: big text files are streamed,
    PDFs read page by page, and at most ``limits.max_chunks`` chunks are kept.
    """
    path, where = Path(path), str(path)
    limits = limits or Limits()
    deadline = Deadline(limits.timeout_seconds)
    media_type, size = check_file(path, media_type, limits.max_file_bytes)
    stream = None
    if media_type in _STREAMABLE and size > STREAM_BYTES:
        stream = open_text_stream(path, deadline)
        extracted = Extracted(stream.head, media_type, text_title(stream.head, media_type))
        pieces: Iterable[str] = stream.pieces
    else:
        extracted = extract(path, media_type, limits=limits, deadline=deadline)
        pieces = [extracted.text]
    chunks: list[TextChunk] = []
    for chunk in iter_chunks(pieces, options.chunk_size, options.chunk_overlap):
        if len(chunks) == limits.max_chunks:
            raise limits.too_many_chunks(where)
        chunks.append(chunk)
        if len(chunks) % EMBED_BATCH == 0:
            deadline.check(where)
    if not chunks:
        raise DocumentError("no text content", where)
    embeddings: np.ndarray | None = None
    model_name: str | None = None
    if options.embeddings:
        active = embedder if embedder is not None else get_embedder()
        parts = []
        for first in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[first : first + EMBED_BATCH]
            parts.append(active.embed([chunk.text for chunk in batch]))
            deadline.check(where)
        embeddings = parts[0] if len(parts) == 1 else np.concatenate(parts)
        model_name = active.model_name
    metadata: dict[str, Any] | None = None
    if options.metadata:
        try:
            digest = sha256 or file_sha256(path)
        except OSError as e:
            raise DocumentError(f"cannot read file: {e.strerror or e}", where) from None
        metadata = build_metadata(extracted, sha256=digest, size=size)
        if stream is not None:  # the head stood in for the text: count the whole
            metadata["word_count"] = stream.words
    return ProcessedDocument(chunks, embeddings, model_name, metadata)
