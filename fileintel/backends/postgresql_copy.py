"""A document's chunks as one binary ``COPY`` (PostgreSQL's finish).

Binary, because the embeddings are most of the bytes: as a ``bytea`` literal they would be
hex text, twice their size, that both sides encode and parse.
"""

from __future__ import annotations

import io
import struct
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from fileintel.backends.interface import ChunksExist
from fileintel.backends.postgresql_queries import QUERIES
from fileintel.backends.postgresql_session import ASYNC_BEGIN

if TYPE_CHECKING:  # a type only: the pipeline (numpy) is not loaded to read a status
    from fileintel.pipeline import ProcessedDocument

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)
_LENGTH = struct.Struct("!i")
_INT4 = struct.Struct("!ii")  # an int4 field: its length (4) and its value
_ROW_START = struct.Struct("!hiq")  # the row's field count, then the int8 document id
_ORDINAL_AND_TEXT_LENGTH = struct.Struct("!iii")
_OFFSETS = struct.Struct("!iiiiii")
_UNIQUE_VIOLATION = "23505"


def copy_data(document_id: int, collection_id: str, result: ProcessedDocument) -> bytes:
    """A document's chunks (and embeddings) as a binary ``COPY`` stream.

    What every row of the document shares is packed once, and the embedding matrix is
    converted once and sliced.
    """
    row_start = _ROW_START.pack(10, 8, document_id) + _field(collection_id.encode())
    vectors = memoryview(b"")
    vector_start = vector_end = b""
    width = 0
    if result.embeddings is not None:
        # float32, little-endian, row after row: the layout of ``pipeline.embedding.to_bytes``.
        vectors = memoryview(result.embeddings.astype("<f4", copy=False).tobytes())
        width = 4 * result.embeddings.shape[1]
        vector_start = _LENGTH.pack(width)
        model = _field(result.embedding_model.encode()) if result.embedding_model else _NULL
        vector_end = model + _INT4.pack(4, result.embeddings.shape[1])
    out = bytearray(_COPY_HEADER)
    for i, chunk in enumerate(result.chunks):
        text = chunk.text.encode()
        out += row_start
        out += _ORDINAL_AND_TEXT_LENGTH.pack(4, chunk.ordinal, len(text))
        out += text
        out += _OFFSETS.pack(4, chunk.start, 4, chunk.end, 4, chunk.token_count)
        if width:
            out += vector_start
            out += vectors[i * width : (i + 1) * width]
            out += vector_end
        else:
            out += _NULL * 3
    out += _COPY_TRAILER
    return bytes(out)


def copy_chunks(conn: Connection, data: bytes, *, begin: bool = False) -> None:
    """Insert chunks with one ``COPY`` of ``data`` (``copy_data``); with ``begin`` the COPY
    opens the transaction (``ASYNC_BEGIN``), in the same round trip. ``ChunksExist`` when
    the document has chunks (the transaction is then aborted)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        sql = (ASYNC_BEGIN if begin else "") + QUERIES["copy_chunks"]
        cursor.copy_expert(sql, io.BytesIO(data), size=max(len(data), 8192))
    except Exception as e:
        if getattr(e, "pgcode", None) == _UNIQUE_VIOLATION:
            raise ChunksExist(str(e).splitlines()[0]) from e
        raise
    finally:
        cursor.close()


def _field(value: bytes) -> bytes:
    return _LENGTH.pack(len(value)) + value
