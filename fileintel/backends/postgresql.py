"""The production backend: PostgreSQL through psycopg2.

A worker spends its database time in round trips, parsing and planning, not in rows, so
the hot paths are single statements (named queries in ``postgresql.sql``), PREPAREd once
per connection, sent on an autocommit connection whose BEGIN and COMMIT travel with them
(``postgresql_session.manual_tx``):

- a **claim** is one round trip that is its own transaction, committed without waiting
  for the WAL flush: lost in a crash, the document is still ``pending`` and dispatched, the
  worker's later writes are fenced off, and the sweeper sends it again;
- a **finish** is four: the chunks' binary ``COPY`` (two; before the statement when the
  document had none at its claim, which keeps it out of the time the collection row is
  locked), the statement, ``COMMIT``. It commits asynchronously too unless it closes the
  run (``make_durable``); the relay publishes nothing a crash could still undo
  (``flush_committed``, ``fileintel.outbox.durable``);
- a **relay pass** is two: ``BEGIN`` with the claim, ``COMMIT`` with the mark.

The relay wakes on ``NOTIFY`` (a trigger on outbox inserts, migration 0004) and the
sweeper's leader holds a session advisory lock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import Connection

from fileintel.backends.commit_hooks import mark_outbox_written
from fileintel.backends.interface import (
    ClaimedDocument,
    CollectionMove,
    DocumentOutcome,
    Listener,
    OutboxTail,
    SessionLock,
)
from fileintel.backends.portable import INSERT_HISTORY
from fileintel.backends.postgresql_copy import copy_chunks, copy_data
from fileintel.backends.postgresql_queries import (
    CLAIM_DOCUMENT,
    CLAIM_OUTBOX,
    FINISH_DONE,
    FINISH_DONE_ADDED,
    FINISH_FAILED,
    QUERIES,
)
from fileintel.backends.postgresql_session import (
    ASYNC_BEGIN,
    ASYNC_COMMIT,
    BEGIN_PREFIX,
    SYNC_COMMIT,
    manual_tx,
)
from fileintel.backends.prepared import execute
from fileintel.models.events import STATUS_CHANGED

#: The durability barrier's statement (``flush_committed``).
FLUSH_COMMITTED = QUERIES["flush_committed"]
#: The advisory lock keys of the named session locks (pg_advisory_lock takes a bigint).
LOCK_KEYS = {
    "sweep": 0x46494C45_5357,  # "FILESW"
    "embedded": 0x46494C45_454D,  # "FILEEM": one embedded runtime per database
}


class PostgreSQLBackend:
    """Statements for PostgreSQL."""

    name = "postgresql"

    def integrity_problems(self, conn: Connection) -> list[str]:
        """None checked here: PostgreSQL verifies each page as it reads it (and checksums
        when the cluster has them) and reports a damaged one as the error of that read."""
        return []

    def storage_problem(self, conn: Connection) -> str | None:
        """The server's disk is out of a client's sight; a full one shows as the errors of
        writes (``diagnosis``: disk_full)."""
        return None

    def missing_database(self, url: str) -> str | None:
        """The server says so itself when it is asked (translated by ``diagnosis``)."""
        return None

    def make_engine(self, url: str) -> Engine:
        """A pool without pre-ping (a round trip per transaction): a dropped connection
        fails one transaction, is invalidated, and the daemons retry their pass."""
        return create_engine(url, pool_recycle=1800, pool_size=5, max_overflow=10)

    def hot_tx(self, engine: Engine) -> AbstractContextManager[Connection]:
        """A transaction whose BEGIN and COMMIT travel with its statements."""
        return manual_tx(engine)

    # --- collections --------------------------------------------------------------------

    def move_collection(self, conn: Connection, move: CollectionMove) -> Any:
        """The guarded UPDATE, history row and event: one statement, one round trip."""
        mark_outbox_written(conn)
        params = {
            "id": move.collection_id,
            "target": move.target,
            "sources": move.sources,
            "expected_version": move.expected_version,
            "fence": move.fence,
            "run_id": move.run_id,
            "set_run": move.set_run,
            "new_run_id": move.new_run_id,
            "recorded_run": move.recorded_run,
            "message": move.message,
            "actor": move.actor,
            "event_id": move.event_id,
            "topic": STATUS_CHANGED,
            "payload": json.dumps(move.payload, allow_nan=False),
        }
        return conn.exec_driver_sql(QUERIES["move_collection"], params).one_or_none()

    def write_history(self, conn: Connection, row: dict[str, Any]) -> None:
        """Insert one ``status_events`` row."""
        conn.execute(INSERT_HISTORY, row)

    def add_event(self, conn: Connection, topic: str, key: str, payload: dict[str, Any]) -> int:
        """Insert an outbox event row as written SQL (a fifth of a Core insert's CPU)."""
        mark_outbox_written(conn)
        params = {"topic": topic, "key": key, "payload": json.dumps(payload, allow_nan=False)}
        return int(conn.exec_driver_sql(QUERIES["add_event"], params).scalar_one())

    # --- documents ----------------------------------------------------------------------

    def claim_document(
        self, conn: Connection, run_id: str, document_id: int, attempt: int, lease: float
    ) -> ClaimedDocument | None:
        """One prepared statement, its own transaction on a hot connection."""
        params = {
            "run_id": run_id,
            "document_id": document_id,
            "attempt": attempt,
            "lease": float(lease),
        }
        row = execute(conn, CLAIM_DOCUMENT, params, prefix=ASYNC_COMMIT).one_or_none()
        if row is None:
            return None
        return ClaimedDocument(
            row.collection_id,
            row.path,
            row.media_type,
            row.sha256,
            row.lease_expires_at,
            row.name,
            dict(row.options),
            row.status,
            bool(row.had_chunks),
        )

    def finish_document(
        self, conn: Connection, outcome: DocumentOutcome, *, begin: bool, add_first: bool
    ) -> Any:
        """The chunks' COPY (first when ``add_first``), then the statement; or the other way.

        The collection row is locked from the statement to the commit and every claim and
        finish of the collection queues for it, so the chunks are encoded before and, when
        the document had none, copied in before the statement: a COPY locks nothing another
        writer waits for. Otherwise they follow the statement, which deletes the old ones
        (the (document, ordinal) key would refuse them before).
        """
        result = outcome.result
        data = None
        if result is not None and result.chunks:
            data = copy_data(outcome.document_id, outcome.collection_id, result)
        added = data is not None and add_first
        if data is not None and added:
            copy_chunks(conn, data, begin=begin)
        chunks = len(result.chunks) if result is not None else 0
        params = {
            "run_id": outcome.run_id,
            "document_id": outcome.document_id,
            "attempt": outcome.attempt,
            "collection_id": outcome.collection_id,
            "chunks": chunks,
            "embedded": chunks if result is not None and result.embeddings is not None else 0,
            "error": outcome.error,
            "metadata": json.dumps(result.metadata) if result is not None else None,
            "sha256": outcome.sha256,
            "fingerprint": outcome.fingerprint,
            "payload": json.dumps(outcome.payload, allow_nan=False),
        }
        statement = FINISH_FAILED if result is None else FINISH_DONE_ADDED if added else FINISH_DONE
        mark_outbox_written(conn)
        prefix = ASYNC_BEGIN if begin and not added else ""
        counters = execute(conn, statement, params, prefix=prefix).one_or_none()
        if counters is not None and data is not None and not added:
            copy_chunks(conn, data)
        return counters

    def lexical_search(
        self,
        conn: Connection,
        collection_id: str,
        terms: Sequence[str],
        limit: int,
        document_ids: Sequence[int] | None,
    ) -> list[tuple[int, float]]:
        """The ``lexical_search`` query on the generated ``tsvector`` (migration 0005)."""
        if not terms or document_ids == []:
            return []
        params = {
            "query": " | ".join(terms),  # words only: the caller keeps \w+ tokens
            "collection_id": collection_id,
            "limit": limit,
            "document_ids": None if document_ids is None else list(document_ids),
        }
        rows = conn.exec_driver_sql(QUERIES["lexical_search"], params)
        return [(int(r.id), float(r.score)) for r in rows]

    def make_durable(self, conn: Connection) -> None:
        """The open transaction's COMMIT waits for its WAL flush again (after ASYNC_BEGIN)."""
        conn.exec_driver_sql(SYNC_COMMIT)

    # --- the outbox ---------------------------------------------------------------------

    def claim_outbox(
        self,
        conn: Connection,
        limit: int,
        kinds: list[str],
        after: int,
        skip: list[str],
        *,
        begin: bool,
    ) -> list[Any]:
        """One prepared statement for every round (``skip`` is empty in a first one)."""
        params: dict[str, Any] = {"limit": limit, "kinds": kinds, "after": after, "skip": skip}
        prefix = BEGIN_PREFIX if begin else ""
        return list(execute(conn, CLAIM_OUTBOX, params, prefix=prefix))

    def mark_published(self, conn: Connection, ids: Sequence[int], *, commit: bool) -> None:
        """The mark, committing in the same round trip with ``commit``."""
        sql = QUERIES["mark_published"] + ("; COMMIT" if commit else "")
        conn.exec_driver_sql(sql, {"ids": list(ids)})

    def tail_outbox(self, conn: Connection, after: int, limit: int) -> OutboxTail:
        """The rows and the snapshot's horizon in one statement (so they agree)."""
        result = conn.exec_driver_sql(QUERIES["tail_outbox"], {"after": after, "limit": limit})
        rows = result.all()
        first = rows[0]  # the LEFT JOIN always yields the snapshot's row
        return OutboxTail(
            rows=[r for r in rows if r.id is not None],
            top=first.top,
            horizon=(int(first.xmin), int(first.xmax)),
        )

    def flush_committed(self, engine: Engine) -> None:
        """A small synchronous write in its own transaction: the WAL is flushed past it."""
        with manual_tx(engine) as conn:
            conn.exec_driver_sql(FLUSH_COMMITTED)

    def listen(self, engine: Engine, channel: str) -> Listener | None:
        """A raw connection, detached from the pool, LISTENing on ``channel``."""
        raw = engine.raw_connection()
        pg: Any = raw.driver_connection
        raw.detach()  # never back to the pool: it carries a LISTEN
        pg.autocommit = True
        with pg.cursor() as cur:
            cur.execute(f"LISTEN {channel}")
        return _PgListener(pg)

    def session_lock(self, engine: Engine, name: str) -> SessionLock:
        """A session advisory lock on a connection of its own."""
        return AdvisoryLock(engine, LOCK_KEYS[name])

    def lock_holder_exists(self, engine: Engine, name: str) -> bool | None:
        """Whether any session holds the advisory lock ``name``."""
        with engine.connect() as conn:
            query = QUERIES["advisory_lock_held"]
            return bool(conn.exec_driver_sql(query, {"key": LOCK_KEYS[name]}).scalar_one())

    def server_started_at(self, conn: Connection) -> dt.datetime | None:
        """The postmaster's start: claims and finishes commit without the WAL flush."""
        started = conn.exec_driver_sql(QUERIES["server_started_at"]).scalar_one()
        return started.astimezone(dt.UTC) if started is not None else None


class _PgListener:
    """The LISTEN connection: ``select``-able, its notifications' payloads drained."""

    def __init__(self, pg: Any):
        self._pg = pg

    def fileno(self) -> int:
        return int(self._pg.fileno())

    def drain(self) -> set[str]:
        self._pg.poll()
        payloads = {n.payload for n in self._pg.notifies}
        self._pg.notifies.clear()
        return payloads

    def close(self) -> None:
        self._pg.close()


class AdvisoryLock:
    """A session advisory lock: if its holder dies, its connection closes and the lock is
    free for a standby at its next try."""

    def __init__(self, engine: Engine, key: int):
        self.engine = engine
        self.key = key
        self.held = False
        self._conn: Any = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; a held lock whose connection broke is given up."""
        if self.held:
            if self._still_connected():
                return True
            self.release()
        self._conn = self.engine.raw_connection()
        self._conn.detach()  # closing it must end the session, not return it to the pool
        self._conn.dbapi_connection.autocommit = True
        cur = self._conn.cursor()
        cur.execute(QUERIES["try_advisory_lock"], {"key": self.key})
        self.held = bool(cur.fetchone()[0])
        cur.close()
        if not self.held:
            self._conn.close()
            self._conn = None
        return self.held

    def _still_connected(self) -> bool:
        try:
            cur = self._conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            return True
        except Exception:
            return False

    def release(self) -> None:
        """Closing the connection ends the session and its lock."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
        self.held = False
