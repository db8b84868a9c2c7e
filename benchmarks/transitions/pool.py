"""The transition benchmark's pool of collections: the cycle they move through, how the pool
is made, and each collection's (status, version) read back at the start of a phase.
"""

from __future__ import annotations

import psycopg2

from benchmarks.common.databases import psycopg_dsn
from fileintel.db import make_engine, write_tx
from fileintel.models.states import CollectionStatus, allowed_sources
from fileintel.store.collections import create_collection
from fileintel.store.transitions import transition

S = CollectionStatus
NEXT = {S.QUEUED: S.PROCESSING, S.PROCESSING: S.COMPLETED, S.COMPLETED: S.QUEUED}
SOURCES = {target: tuple(s.value for s in allowed_sources(target)) for target in NEXT.values()}


# --- the database -------------------------------------------------------------------------


def make_pool(url: str, n: int) -> list[str]:
    """``n`` collections, each moved to ``queued`` so they can cycle."""
    engine = make_engine(url)
    ids = []
    with write_tx(engine) as conn:
        for i in range(n):
            collection_id = create_collection(conn, f"bench-{i:04d}", actor="bench")
            transition(conn, collection_id, S.QUEUED, actor="bench")
            ids.append(collection_id)
    engine.dispose()
    return ids


def pool_state(url: str, ids: list[str]) -> dict[str, tuple[str, int]]:
    """Each collection's (status, version), read at the start of a phase."""
    conn = psycopg2.connect(psycopg_dsn(url))
    with conn.cursor() as cur:
        cur.execute("SELECT id, status, version FROM collections WHERE id = ANY(%s)", (ids,))
        state = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
    conn.close()
    return state
