"""Filling the sweeper benchmark's scratch database with ``INSERT ... SELECT generate_series``
(open and completed collections, their runs, history and documents, some in-flight
documents' leases expired), and the row counts of its tables.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

#: A collection is open (processing) when ``i % 100 < :open_pct``; the others are completed.
POPULATE = [
    # Collections: open ones processing, the rest completed; counters as the documents.
    """
    INSERT INTO collections (id, name, description, status, status_updated_at, status_message,
        previous_status, version, last_seq, current_run_id, documents_total, documents_pending,
        documents_processing, documents_done, documents_failed, documents_skipped,
        chunks_total, chunks_embedded, created_at)
    SELECT md5('c' || i)::uuid::text, 'bench-' || i, NULL,
        CASE WHEN open THEN 'processing' ELSE 'completed' END,
        now() - interval '50 minutes', NULL, CASE WHEN open THEN 'queued' ELSE 'processing' END,
        CASE WHEN open THEN 3 ELSE 4 END, CASE WHEN open THEN 3 ELSE 4 END,
        md5('r' || i)::uuid::text, :docs, 0, CASE WHEN open THEN 1 ELSE 0 END,
        CASE WHEN open THEN :docs - 1 ELSE :docs END, 0, 0, :docs * 5, :docs * 5,
        now() - interval '1 hour'
    FROM (SELECT i, i % 100 < :open_pct AS open FROM generate_series(1, :collections) AS i) AS s
    """,
    # Their current runs: open ones processing, heartbeating, far from the deadline.
    """
    INSERT INTO runs (id, collection_id, attempt, kind, status, options, requested_at,
        started_at, finished_at, heartbeat_at, deadline_at, error, documents_total,
        documents_pending, documents_processing, documents_done, documents_failed,
        documents_skipped)
    SELECT md5('r' || i)::uuid::text, md5('c' || i)::uuid::text, 1, 'process',
        CASE WHEN open THEN 'processing' ELSE 'completed' END,
        '{}', now() - interval '51 minutes', now() - interval '50 minutes',
        CASE WHEN open THEN NULL ELSE now() - interval '40 minutes' END,
        now() - interval '5 seconds', now() + interval '5 hours', NULL,
        :docs, 0, CASE WHEN open THEN 1 ELSE 0 END,
        CASE WHEN open THEN :docs - 1 ELSE :docs END, 0, 0
    FROM (SELECT i, i % 100 < :open_pct AS open FROM generate_series(1, :collections) AS i) AS s
    """,
    # History: created → queued → processing (→ completed), seq 1..3 (4).
    """
    INSERT INTO status_events (collection_id, seq, run_id, from_status, to_status, message,
        actor, event_id, at)
    SELECT md5('c' || i)::uuid::text, e.seq, CASE WHEN e.seq > 1 THEN md5('r' || i)::uuid::text END,
        e.from_status, e.to_status, e.to_status, 'bench', md5('e' || i || '-' || e.seq)::uuid::text,
        now() - interval '1 hour' + e.seq * interval '1 minute'
    FROM (SELECT i, i % 100 < :open_pct AS open FROM generate_series(1, :collections) AS i) AS s,
        (VALUES (1, NULL, 'created'), (2, 'created', 'queued'), (3, 'queued', 'processing'),
                (4, 'processing', 'completed')) AS e(seq, from_status, to_status)
    WHERE e.seq <= CASE WHEN open THEN 3 ELSE 4 END
    """,
    # Documents: all done but, in open collections, the last one, which is in flight; for
    # the stuck collections (every k-th) its lease ended two minutes ago. Live leases end an
    # hour from now, so that the minutes this script takes to fill cannot expire them. No
    # document is pending, so none has a dispatch time (a claim clears it).
    """
    INSERT INTO documents (collection_id, path, size, sha256, media_type, state, run_id,
        attempt, lost_leases, dispatched_at, lease_expires_at, error, chunk_count,
        embedded_count, metadata, processed_sha256, processed_options, added_at, finished_at)
    SELECT md5('c' || c)::uuid::text, '/data/bench-' || c || '/doc-' || j || '.txt', 4096,
        md5(g::text) || md5('x' || g), 'text/plain',
        CASE WHEN flying THEN 'processing' ELSE 'done' END,
        md5('r' || c)::uuid::text, 1, 0, NULL,
        CASE WHEN NOT flying THEN NULL
             WHEN c % :stuck_every = 0 THEN now() - interval '2 minutes'
             ELSE now() + interval '1 hour' END,
        NULL, CASE WHEN flying THEN 0 ELSE 5 END, CASE WHEN flying THEN 0 ELSE 5 END, NULL,
        CASE WHEN flying THEN NULL ELSE md5(g::text) || md5('x' || g) END,
        CASE WHEN flying THEN NULL ELSE 'bench' END, now() - interval '1 hour',
        CASE WHEN flying THEN NULL ELSE now() - interval '30 minutes' END
    FROM (
        SELECT g, c, j, j = :docs - 1 AND c % 100 < :open_pct AS flying
        FROM (SELECT g, g / :docs + 1 AS c, g % :docs AS j
              FROM generate_series(0, :collections * :docs - 1) AS g) AS n
    ) AS d
    """,
]


def populate(
    engine: Engine, collections: int, documents: int, stuck_every: int, open_percent: int
) -> None:
    """Fill the database (one transaction), then VACUUM ANALYZE so plans see the real sizes."""
    params = {
        "collections": collections,
        "docs": documents,
        "stuck_every": stuck_every,
        "open_pct": open_percent,
    }
    with engine.begin() as conn:
        for statement in POPULATE:
            conn.execute(text(statement), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def table_sizes(engine: Engine) -> dict[str, int]:
    """Row counts of the tables the sweeper reads."""
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("collections", "runs", "documents", "status_events")
        }
