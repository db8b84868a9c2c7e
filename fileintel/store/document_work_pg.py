"""The document hot path on PostgreSQL: a claim and a finish of one prepared statement each.

``fileintel.store.document_work`` states what claiming and finishing a document mean and
runs them on SQLite with Core statements. On PostgreSQL a worker spends its database time
in round trips, parsing and planning, not in the rows, so the same writes are two
statements written out here, each PREPAREd once per connection (``fileintel.backends.prepared``):

- **claim**: takes the document, moves the collection's and the run's counters and returns
  the run's options, the collection's name and whether the document has chunks. Sent as
  ``SET LOCAL synchronous_commit TO off; EXECUTE ...`` on an autocommit connection: one
  round trip that is its own transaction. A claim lost in a database crash leaves the
  document ``pending`` with its dispatch time set, the worker's later writes are fenced
  off (the document is not ``processing``) and the sweeper sends it again; nothing outside
  the database saw it.
- **finish**: writes the document's outcome, deletes its old chunks, moves the counters and
  inserts the progress event, whose ``documents`` counters the statement adds. The new
  chunks go in with one binary ``COPY``: before the statement (``BEGIN; COPY ...``) when
  the document had no chunks at its claim, which keeps the COPY out of the time the
  collection row is locked, else after it (``BEGIN; EXECUTE ...``, then the COPY). The
  caller closes the run in the same transaction when this was the last document, then
  commits. The transaction opens with ``synchronous_commit`` off (``ASYNC_BEGIN``): its
  COMMIT does not wait for the WAL flush. A finish lost in a database crash leaves the
  document ``processing`` under its lease, and the sweeper sends it again when the lease
  expires; nothing outside the database saw it, because the relay makes the WAL durable
  before it publishes the finish's event (``fileintel.outbox.durable``). A finish that
  closes the run commits synchronously (``make_durable``): a run, and its collection, is
  never seen finished and then found unfinished after a crash.

Every statement keeps the fences of the portable version, and a fence that matches nothing
makes the whole statement write nothing and return no row (the caller raises ``StaleRun``):
a claim commits on its own, so "nothing" has to hold without a rollback. Each part's WHERE
reads the part before it. The collection row is locked first (``FOR NO KEY UPDATE``, the
lock its later UPDATE takes anyway) and its counters move only once the document's fence
held; then the document, then the run: the lock order of ``lifecycle``, so a cancel queues
behind a claim or a finish instead of deadlocking with it. A COPY before the statement
locks only the document row, in ``KEY SHARE`` mode (the chunks' foreign key), which no
status or counter write conflicts with.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from sqlalchemy.engine import Connection

from fileintel.backends.prepared import Prepared, execute
from fileintel.db import ASYNC_COMMIT, BEGIN_PREFIX, SYNC_COMMIT, mark_outbox_written
from fileintel.models.states import DocumentState
from fileintel.pipeline import ProcessedDocument
from fileintel.pipeline.embedding import to_bytes

#: How a finish opens its transaction (``db.manual_tx``): its commit does not wait for the
#: WAL flush, as the claim's does not (see above).
ASYNC_BEGIN = BEGIN_PREFIX + ASYNC_COMMIT

CLAIM = Prepared(
    "fileintel_claim_document",
    (("run_id", "text"), ("document_id", "bigint"), ("attempt", "int"), ("lease", "float8")),
    """
WITH coll AS (
    SELECT id, name FROM collections
     WHERE id = (SELECT collection_id FROM documents WHERE id = $2)
       AND current_run_id = $1 AND status = 'processing'
       AND EXISTS (SELECT 1 FROM runs WHERE id = $1 AND status = 'processing')
       FOR NO KEY UPDATE
), doc AS (
    UPDATE documents
       SET state = 'processing', dispatched_at = NULL,
           lease_expires_at = clock_timestamp() + make_interval(secs => $4)
     WHERE id = $2 AND run_id = $1 AND attempt = $3
       AND state = 'pending' AND EXISTS (SELECT 1 FROM coll)
    RETURNING collection_id, path, media_type, sha256, lease_expires_at
), counted AS (
    UPDATE collections
       SET documents_pending = documents_pending - 1,
           documents_processing = documents_processing + 1
     WHERE id = (SELECT collection_id FROM doc)
    RETURNING 1
), run AS (
    UPDATE runs
       SET documents_pending = documents_pending - 1,
           documents_processing = documents_processing + 1,
           heartbeat_at = clock_timestamp()
     WHERE id = $1 AND EXISTS (SELECT 1 FROM doc)
    RETURNING options, status
)
SELECT doc.collection_id, doc.path, doc.media_type, doc.sha256, doc.lease_expires_at,
       coll.name, run.options, run.status,
       EXISTS (SELECT 1 FROM chunks WHERE document_id = $2) AS had_chunks
  FROM doc, coll, run""",
)

_FINISH_PARAMS = (
    ("run_id", "text"),
    ("document_id", "bigint"),
    ("attempt", "int"),
    ("collection_id", "text"),
    ("chunks", "int"),
    ("embedded", "int"),
    ("error", "text"),
    ("metadata", "json"),
    ("sha256", "text"),
    ("fingerprint", "text"),
    ("payload", "jsonb"),
)

#: ``{dst}`` is ``done`` or ``failed`` (a DocumentState, never user input). The ``old_*``
#: parts delete the document's old chunks and take them off the counters (``_REPLACE``), or
#: are nothing when the document had none and its new chunks are already in (``_ADD``).
_FINISH = """
WITH coll AS (
    SELECT 1 FROM collections
     WHERE id = $4 AND current_run_id = $1 AND status = 'processing'
       FOR NO KEY UPDATE
), doc AS (
    UPDATE documents SET {document_values}, lease_expires_at = NULL,
           finished_at = clock_timestamp()
     WHERE id = $2 AND run_id = $1 AND attempt = $3
       AND state = 'processing' AND EXISTS (SELECT 1 FROM coll)
    RETURNING id
), counted AS (
    UPDATE collections
       SET documents_processing = documents_processing - 1,
           documents_{dst} = documents_{dst} + 1,
           chunks_total = chunks_total + $5 - {old_chunks},
           chunks_embedded = chunks_embedded + $6 - {old_embedded}
     WHERE id = $4 AND EXISTS (SELECT 1 FROM doc)
    RETURNING 1
){old_cte}, run AS (
    UPDATE runs
       SET documents_processing = documents_processing - 1,
           documents_{dst} = documents_{dst} + 1,
           heartbeat_at = clock_timestamp()
     WHERE id = $1 AND EXISTS (SELECT 1 FROM doc)
    RETURNING documents_total, documents_pending, documents_processing, documents_done,
              documents_failed, documents_skipped
), event AS (
    INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
    SELECT 'event', 'document.{dst}', $4,
           ($11 || jsonb_build_object('documents', jsonb_build_object(
               'total', run.documents_total, 'pending', run.documents_pending,
               'processing', run.documents_processing, 'done', run.documents_done,
               'failed', run.documents_failed, 'skipped', run.documents_skipped)))::json,
           clock_timestamp(), clock_timestamp(), 0
      FROM run
    RETURNING 1
)
SELECT run.* FROM run"""

#: The old chunks are counted by subqueries: every part of one statement sees the rows as
#: they were before it, so the counts are of the chunks that ``old`` deletes (chunks copied
#: in before the statement would be counted and deleted too: hence ``_ADD``).
_REPLACE = {
    "old_chunks": "(SELECT count(*) FROM chunks WHERE document_id = $2)",
    "old_embedded": "(SELECT count(embedding_dim) FROM chunks WHERE document_id = $2)",
    "old_cte": ", old AS (\n    DELETE FROM chunks WHERE document_id = (SELECT id FROM doc)\n)",
}
_ADD = {"old_chunks": "0", "old_embedded": "0", "old_cte": ""}

_DONE_VALUES = (
    "state = 'done', error = NULL, chunk_count = $5, embedded_count = $6, metadata = $8, "
    "processed_sha256 = $9, processed_options = $10"
)
# A failed document keeps no chunks; $7 is its reason. It takes $8-$10 (as nulls) so that
# all three statements are called the same way.
_FAILED_VALUES = "state = 'failed', error = $7, chunk_count = 0, embedded_count = 0"

FINISH_DONE = Prepared(
    "fileintel_finish_done",
    _FINISH_PARAMS,
    _FINISH.format(document_values=_DONE_VALUES, dst=DocumentState.DONE.value, **_REPLACE),
)
#: For a document that had no chunks when claimed: its new chunks were copied in first.
FINISH_DONE_ADDED = Prepared(
    "fileintel_finish_done_added",
    _FINISH_PARAMS,
    _FINISH.format(document_values=_DONE_VALUES, dst=DocumentState.DONE.value, **_ADD),
)
FINISH_FAILED = Prepared(
    "fileintel_finish_failed",
    _FINISH_PARAMS,
    _FINISH.format(document_values=_FAILED_VALUES, dst=DocumentState.FAILED.value, **_REPLACE),
)


def claim(
    conn: Connection,
    run_id: str,
    document_id: int,
    attempt: int,
    lease_seconds: float,
) -> Any:
    """Take the document for this attempt; None when a fence matched nothing.

    The row holds the document's facts, the collection's ``name`` and the run's ``options``
    and ``status``. None means the document is not ``pending`` under this run and attempt,
    or the run is no longer the collection's processing run. On an autocommit connection
    (``db.manual_tx``) the claim is its own transaction.
    """
    params = {
        "run_id": run_id,
        "document_id": document_id,
        "attempt": attempt,
        "lease": float(lease_seconds),
    }
    return execute(conn, CLAIM, params, prefix=ASYNC_COMMIT).one_or_none()


def finish(
    conn: Connection,
    *,
    run_id: str,
    document_id: int,
    attempt: int,
    collection_id: str,
    result: ProcessedDocument | None,
    error: str | None,
    sha256: str,
    fingerprint: str,
    payload: dict[str, Any],
    add_first: bool = False,
    begin: bool = False,
) -> Any:
    """Write a document's outcome and its new chunks in place of the old, move the counters,
    add its event.

    ``result`` None means the document failed with ``error``. ``payload`` is the progress
    event without its ``documents`` counters, which the statement adds. Returns the run's
    counters after the move, or None when a fence matched nothing (the caller must roll
    back: chunks may have been copied). With ``begin`` the first round trip opens the
    transaction (``db.manual_tx``) with an asynchronous commit (``ASYNC_BEGIN``).

    The collection row is locked from the statement to the commit, and every claim and
    finish of the collection queues for it, so the chunks are encoded before and, with
    ``add_first`` (the document had none at its claim), copied in before the statement: a
    COPY locks nothing another writer waits for. Otherwise the new chunks follow the
    statement, which deletes the old ones: the (document, ordinal) key refuses them before.
    ``ChunksExist`` when ``add_first`` was wrong (the transaction is then aborted).
    """
    data = None
    if result is not None and result.chunks:
        data = copy_data(document_id, collection_id, result)
    added = data is not None and add_first
    if data is not None and added:
        copy_chunks(conn, data, begin=begin)
    chunks = len(result.chunks) if result is not None else 0
    params = {
        "run_id": run_id,
        "document_id": document_id,
        "attempt": attempt,
        "collection_id": collection_id,
        "chunks": chunks,
        "embedded": chunks if result is not None and result.embeddings is not None else 0,
        "error": error,
        "metadata": json.dumps(result.metadata) if result is not None else None,
        "sha256": sha256,
        "fingerprint": fingerprint,
        "payload": json.dumps(payload, allow_nan=False),
    }
    statement = FINISH_FAILED if result is None else FINISH_DONE_ADDED if added else FINISH_DONE
    mark_outbox_written(conn)
    prefix = ASYNC_BEGIN if begin and not added else ""
    counters = execute(conn, statement, params, prefix=prefix).one_or_none()
    if counters is not None and data is not None and not added:
        copy_chunks(conn, data)
    return counters


_COPY_CHUNKS = (
    "COPY chunks (document_id, collection_id, ordinal, text, start_offset, end_offset, "
    "token_count, embedding, embedding_model, embedding_dim) FROM STDIN WITH (FORMAT binary)"
)
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

    Binary, because the embeddings are most of the bytes: as a ``bytea`` literal they would
    be hex text, twice their size, that both sides encode and parse. What every row of the
    document shares is packed once, and the embedding matrix is converted once and sliced.
    """
    row_start = _ROW_START.pack(10, 8, document_id) + _field(collection_id.encode())
    vectors = memoryview(b"")
    vector_start = vector_end = b""
    width = 0
    if result.embeddings is not None:
        vectors = memoryview(to_bytes(result.embeddings))
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


class ChunksExist(Exception):
    """The document has chunks already: a COPY met the (document, ordinal) key."""


def copy_chunks(conn: Connection, data: bytes, *, begin: bool = False) -> None:
    """Insert chunks with one ``COPY`` of ``data`` (``copy_data``); with ``begin`` the COPY
    opens the transaction (``ASYNC_BEGIN``), in the same round trip. ``ChunksExist`` when
    the document has chunks (the transaction is then aborted)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        sql = (ASYNC_BEGIN if begin else "") + _COPY_CHUNKS
        cursor.copy_expert(sql, io.BytesIO(data), size=max(len(data), 8192))
    except Exception as e:
        if getattr(e, "pgcode", None) == _UNIQUE_VIOLATION:
            raise ChunksExist(str(e).splitlines()[0]) from e
        raise
    finally:
        cursor.close()


def make_durable(conn: Connection) -> None:
    """Make the open transaction's commit wait for its WAL flush again (after ``ASYNC_BEGIN``)."""
    conn.exec_driver_sql(SYNC_COMMIT)


def _field(value: bytes) -> bytes:
    return _LENGTH.pack(len(value)) + value
