"""Write small, valid, text-bearing PDF files without any PDF library.

A tool for making sample and benchmark corpora and test fixtures: every page is set in
Helvetica (WinAnsiEncoding), long lines are wrapped, and the cross-reference table carries
exact byte offsets, so any conforming reader (pypdf included) extracts the text back.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

_FONT_SIZE = 11
_LEADING = 14
_WRAP = 90
_PAGE_WIDTH, _PAGE_HEIGHT = 612, 792  # US Letter, in points
_MARGIN = 72


def _literal(text: str) -> bytes:
    """Return ``text`` as a PDF literal string in WinAnsi (cp1252), unknown chars as '?'."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _info_string(text: str) -> bytes:
    """Return a text string for the Info dictionary: ASCII literal, else UTF-16BE hex."""
    if text.isascii():
        return _literal(text)
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _content_stream(page_text: str) -> bytes:
    lines: list[str] = []
    for paragraph in page_text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, _WRAP) or [""])
    ops = [
        b"BT",
        b"/F1 %d Tf" % _FONT_SIZE,
        b"%d TL" % _LEADING,
        b"%d %d Td" % (_MARGIN, _PAGE_HEIGHT - _MARGIN),
    ]
    for i, line in enumerate(lines):
        if i:
            ops.append(b"T*")
        if line:
            ops.append(_literal(line) + b" Tj")
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n" if page_text.strip() else b""


def minimal_pdf_bytes(
    pages: Sequence[str], title: str | None = None, author: str | None = None
) -> bytes:
    """Return the bytes of a PDF with one page per string in ``pages`` (newlines kept)."""
    if not pages:
        raise ValueError("a PDF needs at least one page")
    n = len(pages)
    # Object numbers: 1 catalog, 2 page tree, 3 font, then (page, content) pairs, then info.
    page_ids = [4 + 2 * i for i in range(n)]
    info_id = 4 + 2 * n
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % p for p in page_ids), n),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for page_id, text in zip(page_ids, pages, strict=True):
        stream = _content_stream(text)
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (_PAGE_WIDTH, _PAGE_HEIGHT, page_id + 1)
        )
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    info = [b"/Producer (fileintel pdfgen)"]
    if title is not None:
        info.append(b"/Title " + _info_string(title))
    if author is not None:
        info.append(b"/Author " + _info_string(author))
    objects[info_id] = b"<< " + b" ".join(info) + b" >>"

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for obj_id in sorted(objects):
        offsets[obj_id] = len(out)
        out += b"%d 0 obj\n" % obj_id + objects[obj_id] + b"\nendobj\n"
    xref_at = len(out)
    size = info_id + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for obj_id in range(1, size):
        out += b"%010d 00000 n \n" % offsets[obj_id]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (size, info_id)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def write_minimal_pdf(
    path: Path, pages: Sequence[str], title: str | None = None, author: str | None = None
) -> None:
    """Write a valid PDF to ``path`` with one page of Helvetica text per item of ``pages``."""
    Path(path).write_bytes(minimal_pdf_bytes(pages, title, author))
