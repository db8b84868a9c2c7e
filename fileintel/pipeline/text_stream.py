"""Big text files read in blocks: decoded incrementally, chunked as they come.

A text file larger than ``STREAM_BYTES`` is never held whole: its encoding is decided on its
first block (BOM, UTF-8, else the detector's best guess, as ``extract.decode_text`` does for
a whole file), the rest is decoded block by block, and ``chunking.iter_chunks`` takes the
pieces as it needs them. The head of the text stands in for the whole for the title and
the language; the words are counted as the blocks pass.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from fileintel.errors import DocumentError
from fileintel.pipeline.extract import BOMS, CONTROL_CHARS, MAX_CONTROL_RATIO
from fileintel.pipeline.limits import MB, Deadline

#: Text files larger than this are streamed; smaller ones are decoded whole.
STREAM_BYTES = 4 * MB
BLOCK_BYTES = 1 * MB
#: How much of a streamed text the title and language are taken from.
HEAD_CHARS = 64 * 1024


@dataclass
class TextStream:
    """A big text file as pieces of text, with its head and, once read, its word count."""

    head: str
    pieces: Iterator[str]
    words: int = 0


def _encoding(first: bytes, where: str) -> str:
    for bom, codec in BOMS:
        if first.startswith(bom):
            return codec
    if b"\x00" in first:
        raise DocumentError("binary content (not text)", where)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(first, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(first).best()
    if best is None:
        raise DocumentError("binary content (not text)", where)
    return best.encoding


def open_text_stream(path: Path, deadline: Deadline) -> TextStream:
    """Decide the encoding on the first block and return the file as a stream of text."""
    where = str(path)
    fh = path.open("rb")
    try:
        first = fh.read(BLOCK_BYTES)
        encoding = _encoding(first, where)
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        head = decoder.decode(first)
    except BaseException:
        fh.close()
        raise
    if head and len(CONTROL_CHARS.findall(head)) / len(head) > MAX_CONTROL_RATIO:
        fh.close()
        raise DocumentError("binary content (not text)", where)
    stream = TextStream(_normalise(head[:HEAD_CHARS]), iter(()))
    stream.pieces = _pieces(fh, decoder, head, stream, deadline, where)
    return stream


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pieces(
    fh: object,
    decoder: codecs.IncrementalDecoder,
    first: str,
    stream: TextStream,
    deadline: Deadline,
    where: str,
) -> Iterator[str]:
    """The text block by block, newlines normalised (a ``\\r`` at a block's end waits for
    the next block), words counted (a word cut by a block's end counted once)."""
    pending, partial = first, ""
    with fh:  # type: ignore[attr-defined]
        while True:
            block = fh.read(BLOCK_BYTES)  # type: ignore[attr-defined]
            text = pending + decoder.decode(block, final=not block)
            pending = ""
            if block and text.endswith("\r"):
                text, pending = text[:-1], "\r"
            text = _normalise(text)
            words = (partial + text).split()
            partial = words.pop() if words and text and not text[-1].isspace() else ""
            stream.words += len(words)
            if text:
                yield text
            if not block:
                stream.words += 1 if partial else 0
                return
            deadline.check(where)
