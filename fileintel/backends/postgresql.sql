-- PostgreSQL's statements, one named query each (``postgresql_queries.load``).
-- A query starts at its "-- name:" line; the comment lines after it say what it does.
-- Queries run as driver SQL: %(name)s parameters, or $n for the PREPAREd ones (their
-- parameter names and types are in postgresql.py). {placeholders} are filled in once,
-- at import, from FileIntel's own constants, never from user input.

-- name: move_collection
-- The guarded status change, its history row and its outbox event in one round trip.
-- The UPDATE takes the collection's row lock before the INSERTs (which consume its
-- RETURNING rows) draw their ids, so outbox ids stay in commit order per collection. The
-- event is the payload the caller built, completed with what only this statement knows
-- (events.DATABASE_FIELDS).
WITH moved AS (
    UPDATE collections
       SET status = %(target)s, previous_status = status, status_updated_at = clock_timestamp(),
           status_message = %(message)s, version = version + 1, last_seq = last_seq + 1,
           current_run_id = CASE WHEN %(set_run)s THEN %(new_run_id)s ELSE current_run_id END
     WHERE id = %(id)s AND status = ANY(%(sources)s)
       AND (%(expected_version)s::int IS NULL OR version = %(expected_version)s::int)
       AND (NOT %(fence)s OR current_run_id IS NOT DISTINCT FROM %(run_id)s)
 RETURNING id, name, previous_status, last_seq, version, status_updated_at
), history AS (
    INSERT INTO status_events (collection_id, seq, run_id, from_status, to_status, message,
                               actor, event_id, at)
    SELECT id, last_seq, %(recorded_run)s, previous_status, %(target)s, %(message)s,
           %(actor)s, %(event_id)s, status_updated_at FROM moved
), announced AS (
    INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
    SELECT 'event', %(topic)s, id,
           (%(payload)s::jsonb || jsonb_build_object(
               'collection_name', name, 'seq', last_seq, 'from', previous_status,
               'at', to_char(status_updated_at AT TIME ZONE 'UTC',
                             'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))::json,
           clock_timestamp(), clock_timestamp(), 0
      FROM moved
)
SELECT name, previous_status, last_seq, version, status_updated_at FROM moved

-- name: add_event
-- One outbox event row, due now (a progress event written outside a worker's finish).
INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
SELECT 'event', %(topic)s, %(key)s, %(payload)s, now.t, now.t, 0
  FROM (SELECT clock_timestamp() AS t) AS now
RETURNING id

-- name: claim_document
-- A worker takes a document: pending -> processing with a lease of $4 seconds, for run $1's
-- attempt $3 of document $2, the counters moved, and what the worker needs returned. The
-- collection row is locked first (FOR NO KEY UPDATE, the lock its UPDATE takes anyway) and
-- its counters move only once the document's fence held; then the document, then the run:
-- every writer's lock order. A fence that fails writes nothing and returns no row.
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
  FROM doc, coll, run

-- name: finish_document
-- A document's outcome under its fence (run $1, document $2, attempt $3, collection $4):
-- its state and {document_values}, the counters moved (chunks $5, embedded $6), the old
-- chunks deleted ({old_cte}), and its progress event: the payload $11 completed with the
-- run's counters after the move. Returns the run's counters; no row when a fence failed.
-- {dst} is done or failed. {old_chunks}/{old_embedded} count the chunks that "old" deletes
-- (every part of one statement sees the rows as they were before it), or are 0 when the
-- document had none and its new chunks were copied in before this statement.
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
    RETURNING {counter_columns}
), event AS (
    INSERT INTO outbox (kind, topic, key, payload, created_at, available_at, attempts)
    SELECT 'event', 'document.{dst}', $4,
           ($11 || jsonb_build_object('documents', {counters_json}))::json,
           clock_timestamp(), clock_timestamp(), 0
      FROM run
    RETURNING 1
)
SELECT run.* FROM run

-- name: copy_chunks
-- A document's new chunks (and embeddings) as one binary COPY (postgresql_copy.py).
COPY chunks (document_id, collection_id, ordinal, text, start_offset, end_offset,
             token_count, embedding, embedding_model, embedding_dim)
FROM STDIN WITH (FORMAT binary)

-- name: claim_outbox
-- The relay's claim: up to $1 due, unpublished, unparked rows of kinds $2 above id $3 and
-- outside keys $4, locked (SKIP LOCKED: several relays share the work), in id order, each
-- with "blocker": the lowest id of an unpublished row of its key below the key's last
-- claimed row that is not claimed itself (locked elsewhere, backing off, not due, or of a
-- kind not published now). Each key's blocker is probed once, on its first row, and spread
-- over its other rows by a window, so the statement stays linear in the batch whatever the
-- planner guesses of the CTE sizes (docs/performance.md, "relay").
WITH cand AS (
    SELECT id, kind, topic, key, payload, attempts, created_at
      FROM outbox
     WHERE published_at IS NULL AND parked_at IS NULL AND available_at <= clock_timestamp()
       AND kind = ANY($2) AND id > $3 AND key <> ALL($4)
     ORDER BY id
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), keyed AS (
    SELECT cand.*, max(id) OVER (PARTITION BY key) AS last_id,
           row_number() OVER (PARTITION BY key ORDER BY id) AS nth
      FROM cand
), probed AS (
    SELECT keyed.*,
           CASE WHEN nth = 1 THEN
               (SELECT min(b.id) FROM outbox AS b
                 WHERE b.key = keyed.key AND b.id < keyed.last_id
                   AND b.published_at IS NULL AND b.parked_at IS NULL
                   AND b.id NOT IN (SELECT id FROM cand))
           END AS probe
      FROM keyed
)
SELECT id, kind, topic, key, payload, attempts, created_at,
       max(probe) OVER (PARTITION BY key) AS blocker, clock_timestamp() AS now
  FROM probed
 ORDER BY id

-- name: mark_published
-- The relay marks what it published. Committed without waiting for the WAL flush: lost in
-- a crash, the rows would only be published again, which at-least-once delivery allows.
SET LOCAL synchronous_commit TO off;
UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY(%(ids)s)

-- name: tail_outbox
-- A reader that follows the outbox by position (the web server's events): up to %(limit)s
-- rows above id %(after)s in id order (payloads of events only), the highest id, and the
-- xmin/xmax of the snapshot that read them. Ids are drawn before commit, so a lower id can
-- become visible after a higher one; an id missing below a visible one belongs to a
-- transaction that was running at this snapshot (below its xmax: every writer draws its
-- outbox id after its first write) or to none, and is final once xmin passes that xmax.
SELECT s.xmin, s.xmax, s.top, o.id, o.kind, o.payload
  FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
               pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax,
               (SELECT max(id) FROM outbox) AS top) AS s
  LEFT JOIN LATERAL (
        SELECT id, kind, CASE WHEN kind = 'event' THEN payload END AS payload
          FROM outbox
         WHERE id > %(after)s
         ORDER BY id
         LIMIT %(limit)s) AS o ON true
 ORDER BY o.id

-- name: flush_committed
-- The durability barrier: its own transaction, committed synchronously, that writes a few
-- bytes of WAL (a commit that wrote nothing is not flushed). Once it returns, every
-- transaction that committed before it is durable (outbox/durable.py).
SET LOCAL synchronous_commit TO on;
SELECT pg_logical_emit_message(true, 'fileintel', '')

-- name: server_started_at
-- When the server (its postmaster) last started: commits made without waiting for the
-- WAL flush before then may have been lost in a crash.
SELECT pg_postmaster_start_time()

-- name: try_advisory_lock
-- The sweeper's leader lock: a session advisory lock, free again when the session ends.
SELECT pg_try_advisory_lock(%(key)s)

-- name: advisory_lock_held
-- Whether any session of this database holds the advisory lock %(key)s.
SELECT count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND granted
   AND ((classid::bigint << 32) | objid::bigint) = %(key)s
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())

-- name: lexical_search
-- A collection's chunks that contain any of the query's words (%(query)s: words joined by
-- '|', stemmed and stripped of stop words by the 'english' configuration of migration
-- 0005's generated column), best first. %(document_ids)s NULL: every document.
SELECT c.id, ts_rank(c.text_search, q.query, 1) AS score
  FROM chunks c, to_tsquery('english'::regconfig, %(query)s) AS q(query)
 WHERE c.collection_id = %(collection_id)s
   AND c.text_search @@ q.query
   AND (%(document_ids)s::bigint[] IS NULL OR c.document_id = ANY(%(document_ids)s::bigint[]))
 ORDER BY score DESC, c.id
 LIMIT %(limit)s
