"""The limits that keep one document's processing bounded in memory and time.

Each is a setting (``config.py``, with the variable named here) and each refusal names its
variable, so a user reading a failed document's reason knows what to raise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fileintel.config import (
    DEFAULT_DOCUMENT_TIMEOUT_SECONDS,
    DEFAULT_MAX_CHUNKS,
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MAX_PDF_PAGES,
    Settings,
)
from fileintel.errors import DocumentError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How big and how slow one document may be."""

    max_file_bytes: int = int(DEFAULT_MAX_FILE_MB * MB)
    max_pages: int = DEFAULT_MAX_PDF_PAGES
    max_chunks: int = DEFAULT_MAX_CHUNKS
    timeout_seconds: float = DEFAULT_DOCUMENT_TIMEOUT_SECONDS

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits a process's settings give."""
        return cls(
            max_file_bytes=int(settings.max_file_mb * MB),
            max_pages=settings.max_pdf_pages,
            max_chunks=settings.max_chunks_per_document,
            timeout_seconds=settings.document_timeout_seconds,
        )

    def too_many_pages(self, pages: int, where: str) -> DocumentError:
        """The refusal of a PDF with ``pages`` pages."""
        return DocumentError(
            f"PDF has {pages} pages, over the {self.max_pages} page limit "
            "(FILEINTEL_MAX_PDF_PAGES)",
            where,
        )

    def too_many_chunks(self, where: str) -> DocumentError:
        """The refusal of a document that gives more chunks than allowed."""
        return DocumentError(
            f"document gives more than {self.max_chunks} chunks "
            "(FILEINTEL_MAX_CHUNKS_PER_DOCUMENT)",
            where,
        )


class Deadline:
    """The per-document time limit, checked between pages and between batches of chunks."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self, where: str) -> None:
        """Raise DocumentError once the document has taken longer than allowed."""
        if time.monotonic() > self.at:
            raise DocumentError(
                f"processing took longer than the {self.seconds:g} s limit "
                "(FILEINTEL_DOCUMENT_TIMEOUT_SECONDS)",
                where,
            )
