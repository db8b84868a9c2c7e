"""Split text into overlapping chunks that end at natural boundaries where possible."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s")
_SENTENCE_ENDS = (". ", "! ", "? ", ".\n", "!\n", "?\n", ".\t", ".\u3000", "\u3002")
_WORD_BREAKS = (" ", "\n", "\t")


@dataclass(frozen=True)
class TextChunk:
    """One chunk: ``text == source[start:end]``, with no leading or trailing whitespace."""

    ordinal: int
    text: str
    start: int
    end: int
    token_count: int


def chunk_text(text: str, size: int = 1200, overlap: int = 200) -> list[TextChunk]:
    """Split ``text`` into chunks of at most ``size`` chars, consecutive ones sharing <= overlap.

    Each chunk ends at the last paragraph break inside its window if there is one in the
    second half of the window (and past the overlap), else at the last sentence end, else
    at the last whitespace, else exactly at ``size``. Chunks are trimmed of surrounding
    whitespace, so ``source[chunk.start:chunk.end] == chunk.text`` always holds and the gaps
    between chunks hold only whitespace. Whitespace-only text gives no chunks.
    """
    return list(iter_chunks([text], size, overlap))


#: A streamed buffer drops the text before the current chunk once it is this long.
_TRIM_CHARS = 1 << 20


def iter_chunks(
    segments: Iterable[str], size: int = 1200, overlap: int = 200
) -> Iterator[TextChunk]:
    """``chunk_text`` over the concatenation of ``segments``, read as needed: the same
    chunks, holding about one segment plus one chunk of text at a time."""
    if size <= 0:
        raise ValueError(f"chunk size must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"chunk overlap must be in [0, size), got {overlap} for size {size}")
    text = _Buffer(iter(segments))
    ordinal = 0
    start = text.skip_space(0)
    floor = start + 1  # a chunk must end past this, so that it holds something new
    while start < text.end(start):
        text.need(start + size + 2)  # every decision below looks at most this far
        cut = _cut(text.buf, start - text.base, size, overlap, floor - text.base) + text.base
        # Trim trailing whitespace; text[start] is not whitespace, so end stays > start.
        end = start + len(text.slice(start, cut).rstrip())
        piece = text.slice(start, end)
        yield TextChunk(ordinal, piece, start, end, len(piece.split()))
        ordinal += 1
        fresh = text.skip_space(end)  # first char the next chunk must include
        if fresh >= text.end(fresh):
            break
        start = _next_start(text.buf, start - text.base, end - text.base, overlap) + text.base
        if start + size <= fresh:  # a long whitespace run: overlapping would add nothing
            start = fresh
        floor = fresh + 1
        text.trim(start)


class _Buffer:
    """The part of a streamed text still needed, and where it starts (``base``)."""

    def __init__(self, segments: Iterator[str]):
        self.segments = segments
        self.buf = ""
        self.base = 0
        self.done = False

    def need(self, upto: int) -> None:
        """Read segments until the buffer reaches ``upto`` (absolute) or the text ends."""
        pieces = [self.buf]
        length = self.base + len(self.buf)
        while not self.done and length <= upto:
            piece = next(self.segments, None)
            if piece is None:
                self.done = True
            else:
                pieces.append(piece)
                length += len(piece)
        if len(pieces) > 1:
            self.buf = "".join(pieces)

    def end(self, pos: int) -> int:
        """The text's length if known, else a bound past ``pos`` (more is to come)."""
        self.need(pos)
        return self.base + len(self.buf)

    def skip_space(self, pos: int) -> int:
        """The first non-whitespace position at or after ``pos``, or the text's length."""
        while True:
            m = _NON_SPACE.search(self.buf, pos - self.base)
            if m:
                return m.start() + self.base
            if self.done:
                return self.base + len(self.buf)
            self.need(self.base + len(self.buf))

    def slice(self, start: int, end: int) -> str:
        """``text[start:end]`` (both inside the buffer)."""
        return self.buf[start - self.base : end - self.base]

    def trim(self, keep_from: int) -> None:
        """Forget the text before ``keep_from`` once enough has piled up."""
        if keep_from - self.base > _TRIM_CHARS:
            self.buf = self.buf[keep_from - self.base :]
            self.base = keep_from


def _skip_space(text: str, pos: int) -> int:
    """Return the index of the first non-whitespace char at or after ``pos``, or len(text)."""
    m = _NON_SPACE.search(text, pos)
    return m.start() if m else len(text)


def _cut(text: str, start: int, size: int, overlap: int, floor: int) -> int:
    """Return where the chunk starting at ``start`` should end (exclusive), >= ``floor``."""
    window_end = start + size
    if window_end >= len(text):
        return len(text)
    earliest = max(start + max(overlap + 1, size // 2), floor)
    paragraph = text.rfind("\n\n", earliest, window_end + 2)
    if paragraph != -1:
        return paragraph
    sentence = max(text.rfind(s, earliest, window_end + 1) for s in _SENTENCE_ENDS)
    if sentence != -1:
        return sentence + 1  # keep the punctuation mark, drop the space after it
    word = max(text.rfind(s, earliest, window_end + 1) for s in _WORD_BREAKS)
    if word != -1:
        return word
    return window_end


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    """Return where the next chunk starts: ``overlap`` chars before ``end``, at a word start."""
    pos = max(end - overlap, start + 1)
    if pos < end and not text[pos - 1].isspace() and not text[pos].isspace():
        # Mid-word: move forward to the next word so chunks never start inside a word.
        m = _SPACE.search(text, pos, end)
        if m:
            pos = m.start()
    return _skip_space(text, pos)
