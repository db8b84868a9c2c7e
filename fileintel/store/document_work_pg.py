"""The document hot path on PostgreSQL: a claim in one statement, a finish in three.

``fileintel.store.document_work`` states what claiming and finishing a document mean and
runs them on SQLite with Core statements. On PostgreSQL the same writes are sent as SQL
written out here, because a worker spends its database time in round trips and statement
building, not in the rows:

- **claim**: one statement (data-modifying CTEs) takes the document, moves the collection's
  and the run's counters and returns the run's options and the collection's name. It
  commits with ``synchronous_commit = off``: a claim lost in a database crash leaves the
  document ``pending`` with its dispatch time set, the worker's later writes are fenced off
  (the document is not ``processing``) and the sweeper sends it again. Nothing outside the
  database has seen the claim, so losing it loses nothing.
- **finish**: one statement writes the document's outcome, deletes its old chunks and moves
  the counters (returning the run's counters); the new chunks go in with one binary
  ``COPY`` (no text escaping of 1.5 KB embeddings on either side); the progress event is
  the third. The finish commits synchronously: its outbox rows must not be published
  unless the transaction is durable.

Every statement keeps the fences of the portable version; a fence that matches nothing
shows as a missing row or a zero count, and the caller raises ``StaleRun`` so the whole
transaction rolls back.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from fileintel.models.states import DocumentState
from fileintel.pipeline import ProcessedDocument
from fileintel.pipeline.embedding import to_bytes

# Lock order is the collection row, then the document, then the run (as in ``lifecycle``):
# each step's WHERE reads the step before it, so PostgreSQL runs them in that order, and a
# cancel (collection, run, documents) queues behind a claim instead of deadlocking with it.
_CLAIM = """
SET LOCAL synchronous_commit TO off;
WITH coll AS (
    UPDATE collections
       SET documents_pending = documents_pending - 1,
           documents_processing = documents_processing + 1
     WHERE id = (SELECT collection_id FROM documents WHERE id = %(document_id)s)
       AND current_run_id = %(run_id)s AND status = 'processing'
    RETURNING name
), doc AS (
    UPDATE documents
       SET state = 'processing', dispatched_at = NULL,
           lease_expires_at = clock_timestamp() + make_interval(secs => %(lease)s)
     WHERE id = %(document_id)s AND run_id = %(run_id)s AND attempt = %(attempt)s
       AND state = 'pending' AND EXISTS (SELECT 1 FROM coll)
    RETURNING collection_id, path, media_type, sha256, lease_expires_at
), run AS (
    UPDATE runs
       SET documents_pending = documents_pending - 1,
           documents_processing = documents_processing + 1,
           heartbeat_at = clock_timestamp()
     WHERE id = %(run_id)s AND EXISTS (SELECT 1 FROM doc)
    RETURNING options, status
)
SELECT doc.collection_id, doc.path, doc.media_type, doc.sha256, doc.lease_expires_at,
       coll.name, run.options, run.status
  FROM doc, coll, run
"""

#: ``{dst}`` is ``done`` or ``failed`` (a DocumentState, never user input). The old chunks
#: are counted by a subquery: every part of one statement sees the rows as they were before
#: it, so the count is the chunks the DELETE removes.
_FINISH = """
WITH coll AS (
    UPDATE collections
       SET documents_processing = documents_processing - 1,
           documents_{dst} = documents_{dst} + 1,
           chunks_total = chunks_total + %(chunks)s
               - (SELECT count(*) FROM chunks WHERE document_id = %(document_id)s),
           chunks_embedded = chunks_embedded + %(embedded)s
               - (SELECT count(embedding_dim) FROM chunks WHERE document_id = %(document_id)s)
     WHERE id = %(collection_id)s AND current_run_id = %(run_id)s AND status = 'processing'
    RETURNING 1
), doc AS (
    UPDATE documents SET {document_values}, lease_expires_at = NULL,
           finished_at = clock_timestamp()
     WHERE id = %(document_id)s AND run_id = %(run_id)s AND attempt = %(attempt)s
       AND state = 'processing' AND EXISTS (SELECT 1 FROM coll)
    RETURNING id
), old AS (
    DELETE FROM chunks WHERE document_id = (SELECT id FROM doc)
), run AS (
    UPDATE runs
       SET documents_processing = documents_processing - 1,
           documents_{dst} = documents_{dst} + 1,
           heartbeat_at = clock_timestamp()
     WHERE id = %(run_id)s AND EXISTS (SELECT 1 FROM doc)
    RETURNING documents_total, documents_pending, documents_processing, documents_done,
              documents_failed, documents_skipped
)
SELECT run.* FROM run
"""

_DONE_VALUES = (
    "state = 'done', error = NULL, chunk_count = %(chunks)s, embedded_count = %(embedded)s, "
    "metadata = %(metadata)s, processed_sha256 = %(sha256)s, processed_options = %(fingerprint)s"
)
_FAILED_VALUES = "state = 'failed', error = %(error)s, chunk_count = 0, embedded_count = 0"
_FINISH_DONE = _FINISH.format(document_values=_DONE_VALUES, dst=DocumentState.DONE.value)
_FINISH_FAILED = _FINISH.format(document_values=_FAILED_VALUES, dst=DocumentState.FAILED.value)

_COPY_CHUNKS = (
    "COPY chunks (document_id, collection_id, ordinal, text, start_offset, end_offset, "
    "token_count, embedding, embedding_model, embedding_dim) FROM STDIN WITH (FORMAT binary)"
)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)


def claim(
    conn: Connection, run_id: str, document_id: int, attempt: int, lease_seconds: float
) -> Any:
    """Take the document for this attempt; None when a fence matched nothing.

    The row holds the document's facts, the collection's ``name`` and the run's ``options``
    and ``status``. None means the document is not ``pending`` under this run and attempt,
    or the run is no longer the collection's processing run.
    """
    params = {
        "run_id": run_id,
        "document_id": document_id,
        "attempt": attempt,
        "lease": float(lease_seconds),
    }
    return conn.exec_driver_sql(_CLAIM, params).one_or_none()


def finish(
    conn: Connection,
    *,
    run_id: str,
    document_id: int,
    attempt: int,
    collection_id: str,
    values: dict[str, Any],
    chunks: int,
    embedded: int,
) -> Any:
    """Write a document's outcome, drop its old chunks, move the counters.

    ``values`` holds the document columns of the outcome, as the portable version writes
    them: ``state`` and ``error``, and for a done document ``metadata``,
    ``processed_sha256`` and ``processed_options``. Returns the run's counters after
    the move, or None when a fence matched nothing.
    """
    failed = values["state"] == DocumentState.FAILED.value
    params = {
        "run_id": run_id,
        "document_id": document_id,
        "attempt": attempt,
        "collection_id": collection_id,
        "chunks": chunks,
        "embedded": embedded,
        "error": values.get("error"),
        "metadata": json.dumps(values.get("metadata")) if not failed else None,
        "sha256": values.get("processed_sha256"),
        "fingerprint": values.get("processed_options"),
    }
    return conn.exec_driver_sql(_FINISH_FAILED if failed else _FINISH_DONE, params).one_or_none()


def copy_chunks(
    conn: Connection, document_id: int, collection_id: str, result: ProcessedDocument
) -> None:
    """Insert a document's chunks (and embeddings) with one binary ``COPY``."""
    if not result.chunks:
        return
    buffer = io.BytesIO(b"".join(_copy_rows(document_id, collection_id, result)))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(_COPY_CHUNKS, buffer)
    finally:
        cursor.close()


def _copy_rows(document_id: int, collection_id: str, result: ProcessedDocument) -> Sequence[bytes]:
    """The binary COPY stream: header, one tuple per chunk, trailer."""
    collection = _field(collection_id.encode())
    model = _field(result.embedding_model.encode()) if result.embedding_model else _NULL
    parts = [_COPY_HEADER]
    for i, chunk in enumerate(result.chunks):
        vector = result.embeddings[i] if result.embeddings is not None else None
        parts += [
            struct.pack("!hiq", 10, 8, document_id),
            collection,
            struct.pack("!ii", 4, chunk.ordinal),
            _field(chunk.text.encode()),
            struct.pack("!iiiiii", 4, chunk.start, 4, chunk.end, 4, chunk.token_count),
        ]
        if vector is None:
            parts += [_NULL, _NULL, _NULL]
        else:
            parts += [_field(to_bytes(vector)), model, struct.pack("!ii", 4, vector.shape[0])]
    parts.append(_COPY_TRAILER)
    return parts


def _field(value: bytes) -> bytes:
    return struct.pack("!i", len(value)) + value
