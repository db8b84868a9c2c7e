"""Turn one file into plain text plus the little metadata the format itself carries."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes
from pypdf import PdfReader

from fileintel.errors import DocumentError
from fileintel.pipeline.limits import DEFAULT_MAX_FILE_MB, MB, Deadline, Limits
from fileintel.pipeline.media import SUPPORTED_MEDIA_TYPES, detect_media_type

# pypdf logs what it repairs ("EOF marker not found") as warnings; without a handler of its
# own they reached the terminal raw. They go to FileIntel's log (the root handlers that
# logs.configure_logging installs), or nowhere when a command configured none: the
# document's outcome already says what was wrong.
logging.getLogger("pypdf").addHandler(logging.NullHandler())

# Preferred answers when the charset detector finds several equally good encodings: Western
# text is by far the most common case and otherwise comes out as e.g. cp1250 ("naďve").
_PREFERRED_ENCODINGS = ("utf_8", "cp1252", "latin_1", "iso8859_15")
BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffd]")
MAX_CONTROL_RATIO = 0.05
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)


@dataclass(frozen=True)
class Extracted:
    """Plain text of a document and what the format says about it."""

    text: str
    media_type: str
    title: str | None
    authors: list[str] = field(default_factory=list)
    pages: int | None = None


def check_file(path: Path, media_type: str | None, max_bytes: int) -> tuple[str, int]:
    """The file's media type and size once it is a readable, supported, small enough file."""
    where = str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DocumentError("not a regular file", where)
        if size == 0:
            raise DocumentError("file is empty", where)
        media_type = media_type or detect_media_type(path)
        if media_type not in SUPPORTED_MEDIA_TYPES:
            raise DocumentError(f"unsupported media type {media_type}", where)
        if size > max_bytes:
            limit = _size(max_bytes, exact=True)
            raise DocumentError(
                f"file is {_size(size)}, over the {limit} limit (FILEINTEL_MAX_FILE_MB)", where
            )
    except FileNotFoundError:
        raise DocumentError("file not found", where) from None
    except PermissionError:
        raise DocumentError("permission denied", where) from None
    except OSError as e:
        raise DocumentError(f"cannot read file: {e.strerror or e}", where) from None
    return media_type, size


def extract(
    path: Path,
    media_type: str | None = None,
    max_bytes: int = int(DEFAULT_MAX_FILE_MB * MB),
    *,
    limits: Limits | None = None,
    deadline: Deadline | None = None,
) -> Extracted:
    """Read ``path`` and return its text; raise DocumentError when that cannot work."""
    where = str(path)
    limits = limits or Limits(max_file_bytes=max_bytes)
    deadline = deadline or Deadline(limits.timeout_seconds)
    media_type, _ = check_file(path, media_type, limits.max_file_bytes)
    try:
        with path.open("rb") as fh:
            if media_type == "application/pdf":
                result = _extract_pdf(fh, where, limits, deadline)
            else:
                data = fh.read(limits.max_file_bytes + 1)
    except OSError as e:
        raise DocumentError(f"cannot read file: {e.strerror or e}", where) from None
    if media_type == "application/pdf":
        pass
    elif len(data) > limits.max_file_bytes:  # the file grew after stat()
        limit = _size(limits.max_file_bytes, exact=True)
        raise DocumentError(f"file is over the {limit} limit (FILEINTEL_MAX_FILE_MB)", where)
    elif media_type == "text/html":
        result = _extract_html(data, where)
    else:
        text = decode_text(data, where)
        del data
        result = Extracted(text, media_type, text_title(text, media_type))
    if not result.text.strip():  # bytes, but no text (only markup, scripts or spaces)
        raise DocumentError("no text content", where)
    return result


def text_title(text: str, media_type: str) -> str | None:
    """The title a Markdown or reStructuredText text gives itself, if any."""
    if media_type == "text/markdown":
        return _markdown_title(text)
    if media_type == "text/x-rst":
        return _rst_title(text)
    return None


def _size(n: int, exact: bool = False) -> str:
    """Human size: "60.0 MB"; with ``exact`` whole numbers lose the decimal ("50 MB")."""
    for unit, scale in (("MB", MB), ("KB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if exact and value.is_integer() else f"{value:.1f} {unit}"
    return f"{n} bytes"


# --- text ---------------------------------------------------------------------------------


def decode_text(data: bytes, where: str | None = None, declared: str | None = None) -> str:
    """Decode bytes to text (BOM, UTF-8, declared charset, then best guess); reject binary."""
    text = _decode(data, where, declared)
    if text and len(CONTROL_CHARS.findall(text)) / len(text) > MAX_CONTROL_RATIO:
        raise DocumentError("binary content (not text)", where)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, where: str | None, declared: str | None) -> str:
    for bom, codec in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                break
    if b"\x00" in data:
        raise DocumentError("binary content (not text)", where)
    candidates = ["utf-8"] if declared is None else ["utf-8", declared]
    for codec in candidates:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise DocumentError("binary content (not text)", where)
    ties = {
        m.encoding: m
        for m in matches
        if abs(m.chaos - best.chaos) < 1e-9 and abs(m.coherence - best.coherence) < 1e-9
    }
    chosen = next((ties[e] for e in _PREFERRED_ENCODINGS if e in ties), best)
    return str(chosen)


_ATX_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _markdown_title(text: str) -> str | None:
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := _ATX_H1.match(line)):
            return m.group(1).strip() or None
    return None


_RST_ADORNMENT = re.compile(r"^([=\-~`#\"^+*:.'_])\1{2,}\s*$")


def _rst_title(text: str) -> str | None:
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        title, under = lines[i].strip(), lines[i + 1].rstrip()
        if (
            title
            and len(under) >= len(title)
            and _RST_ADORNMENT.match(under)
            and not _RST_ADORNMENT.match(title)
        ):
            return title
    return None


# --- HTML ---------------------------------------------------------------------------------

_SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "object"})
_LINE_BREAK = frozenset({"br", "li", "tr", "dt", "dd", "option", "figcaption", "caption"})
_PARAGRAPH = frozenset(
    {
        *("address", "article", "aside", "blockquote", "details", "dialog", "div", "dl"),
        *("fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("header", "hr", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "ul"),
    }
)
_CELL = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")


class _HTMLText(HTMLParser):
    """Collects visible text; block elements end lines, skipped elements are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | int] = []  # text, or a break strength (1 line, 2 paragraph)
        self.skipping: list[str] = []
        self.in_title = False
        self.title_parts: list[str] = []
        self.authors: list[str] = []
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self.skipping:  # unclosed <head>
            self.skipping.clear()
        if tag == "meta":
            values = {k.lower(): (v or "") for k, v in attrs}
            if values.get("name", "").lower() == "author":
                self.authors.extend(_split_authors(values.get("content", "")))
            return
        if tag == "title" and set(self.skipping) <= {"head"} and not self.title_parts:
            self.in_title = True
            self.parts.append(2)
            return
        if tag in _SKIP:
            self.skipping.append(tag)
        self._block(tag)
        if tag == "pre":
            self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self.handle_starttag(tag, attrs)
        else:
            self._block(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.in_title:
            self.in_title = False
            self.parts.append(2)
        elif tag in self.skipping:
            while self.skipping and self.skipping.pop() != tag:
                pass
        if tag == "pre" and self.pre:
            self.pre -= 1
        self._block(tag)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title_parts.append(data)
            self.parts.append(data)
        elif self.pre and not self.skipping:  # preformatted text keeps its line breaks
            for i, line in enumerate(data.split("\n")):
                self.parts.extend((1, line) if i else (line,))
        elif not self.skipping:
            self.parts.append(data)

    def _block(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self.parts.append(2)
        elif tag in _LINE_BREAK:
            self.parts.append(1)
        elif tag in _CELL:
            self.parts.append(" ")

    def text(self) -> str:
        out: list[str] = []
        line: list[str] = []
        pending = 0
        for part in [*self.parts, 1]:
            if isinstance(part, str):
                line.append(part)
                continue
            collapsed = _SPACES.sub(" ", "".join(line)).strip()
            line.clear()
            if collapsed:
                if out:
                    out.append("\n\n" if pending >= 2 else "\n")
                out.append(collapsed)
                pending = 0
            pending = max(pending, part)
        return "".join(out)


def _split_authors(value: str) -> list[str]:
    return [a.strip() for a in re.split(r";|\band\b|&", value) if a.strip()]


def _extract_html(data: bytes, where: str) -> Extracted:
    declared = _META_CHARSET.search(data[:4096])
    text = decode_text(data, where, declared.group(1).decode("ascii") if declared else None)
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    title = _SPACES.sub(" ", "".join(parser.title_parts)).strip() or None
    return Extracted(parser.text(), "text/html", title, parser.authors)


# --- PDF ----------------------------------------------------------------------------------


def _extract_pdf(fh: BinaryIO, where: str, limits: Limits, deadline: Deadline) -> Extracted:
    """Page by page from the file (pypdf reads objects as pages need them)."""
    try:
        reader = PdfReader(fh)
        if reader.is_encrypted:
            try:
                unlocked = bool(reader.decrypt(""))
            except Exception:
                unlocked = False
            if not unlocked:
                raise DocumentError("PDF is encrypted", where)
        pages = len(reader.pages)
        if pages > limits.max_pages:
            raise limits.too_many_pages(pages, where)
        texts = []
        for page in reader.pages:
            texts.append((page.extract_text() or "").strip())
            deadline.check(where)
        info = reader.metadata
        title = _clean(info.title) if info else None
        authors = _split_authors(_clean(info.author) or "") if info else []
    except DocumentError:
        raise
    except RecursionError:  # a hostile PDF's objects nest without end
        raise DocumentError("corrupt PDF: structure nested too deeply", where) from None
    except Exception as e:
        detail = _SPACES.sub(" ", str(e)).strip()[:120] or type(e).__name__
        raise DocumentError(f"corrupt PDF: {detail}", where) from None
    text = "\n\n".join(t for t in texts if t)
    if not text:
        reason = "PDF has no pages" if not texts else "PDF has no extractable text (scanned?)"
        raise DocumentError(reason, where)
    return Extracted(text, "application/pdf", title, authors, len(texts))


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return _SPACES.sub(" ", value).strip() or None
