"""Media type detection: trust a known file extension, otherwise look at the first bytes."""

from __future__ import annotations

from pathlib import Path

OCTET_STREAM = "application/octet-stream"

_BY_EXTENSION: dict[str, str] = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
    ".json": "application/json",
    ".rst": "text/x-rst",
}

SUPPORTED_MEDIA_TYPES: frozenset[str] = frozenset(_BY_EXTENSION.values())

# Signatures checked in order against the start of the file.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)

_SNIFF_BYTES = 1024


def sniff_media_type(head: bytes) -> str:
    """Return the media type implied by a file's first bytes, or application/octet-stream."""
    # PDF readers accept a little junk before the header, so look a bit further for it.
    if b"%PDF-" in head[:_SNIFF_BYTES]:
        return "application/pdf"
    for signature, media_type in _MAGIC:
        if head.startswith(signature):
            return media_type
    return OCTET_STREAM


def detect_media_type(path: Path) -> str:
    """Return the media type of ``path``: by extension first, then by magic bytes."""
    by_extension = _BY_EXTENSION.get(path.suffix.lower())
    if by_extension is not None:
        return by_extension
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return OCTET_STREAM
    return sniff_media_type(head)
