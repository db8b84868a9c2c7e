"""The embedded backend: one SQLite file shared by the processes of one machine.

SQLite has one writer at a time (``BEGIN IMMEDIATE``), commits synchronously, has no
NOTIFY and no advisory locks: a hot transaction is an ordinary write transaction, the
durability barrier has nothing to wait for, the relay polls (the embedded mode wakes it
after each commit, ``commit_hooks``), and the leader lock is an ``flock`` on a file beside
the database. Statements are SQLAlchemy Core built once (``portable``) or, for the chunks,
the driver's ``executemany``.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, case, create_engine, event, func, select, update
from sqlalchemy.engine import Connection

from fileintel.backends import portable
from fileintel.backends.commit_hooks import mark_outbox_written
from fileintel.backends.file_lock import FileLock
from fileintel.backends.interface import (
    ClaimedDocument,
    CollectionMove,
    DocumentOutcome,
    Listener,
    OutboxTail,
    SessionLock,
)
from fileintel.backends.sqlite_lexical import lexical_search
from fileintel.backends.transactions import SQLITE_BEGIN, write_tx
from fileintel.models import events
from fileintel.models.clock import db_now
from fileintel.models.states import DocumentState
from fileintel.models.tables import collections_t, outbox_t

#: How long a writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Below this much free space where the database file lives, writes are about to fail
#: ("database or disk is full"): a status warning and a doctor line say so beforehand.
MIN_FREE_BYTES = 1024 * 1024


class SQLiteBackend:
    """Statements for the embedded SQLite file."""

    name = "sqlite"

    def integrity_problems(self, conn: Connection) -> list[str]:
        """``PRAGMA quick_check``: every page and index entry readable and well formed
        (O(N), without the cross-checks of ``integrity_check``)."""
        rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check(20)")]
        return [] if rows == ["ok"] else rows

    def storage_problem(self, conn: Connection) -> str | None:
        """The file system holding the database file (and its WAL) has less than
        ``MIN_FREE_BYTES`` left for this user."""
        path = conn.engine.url.database
        if not path or path == ":memory:":
            return None
        try:
            fs = os.statvfs(Path(path).expanduser().parent)
        except OSError:
            return None
        free = fs.f_bavail * fs.f_frsize
        if free >= MIN_FREE_BYTES:
            return None
        return f"the database's disk is full ({free // 1024} KiB free for {path})"

    def missing_database(self, url: str) -> str | None:
        """A read must not leave an empty file behind where none was (connecting makes one)."""
        path = url.removeprefix("sqlite:///")
        if not path or path == ":memory:" or Path(path).expanduser().exists():
            return None
        return f"no database file at {path}; create it with 'fileintel db upgrade'"

    def make_engine(self, url: str) -> Engine:
        """WAL, a busy timeout, foreign keys, and BEGIN sent by us (IMMEDIATE for writes)."""
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control away from the driver: we emit BEGIN ourselves below.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def hot_tx(self, engine: Engine) -> AbstractContextManager[Connection]:
        """An ordinary write transaction: SQLite pays no round trips."""
        return write_tx(engine)

    # --- collections --------------------------------------------------------------------

    def move_collection(self, conn: Connection, move: CollectionMove) -> Any:
        """The guarded UPDATE, then the history row and the event from what it returned."""
        c = collections_t.c
        values: dict[str, object] = {
            "status": move.target,
            "previous_status": c.status,
            "status_updated_at": db_now(),
            "status_message": move.message,
            "version": c.version + 1,
            "last_seq": c.last_seq + 1,
        }
        if move.set_run:
            values["current_run_id"] = move.new_run_id
        guard = [c.id == move.collection_id, c.status.in_(move.sources)]
        if move.expected_version is not None:
            guard.append(c.version == move.expected_version)
        if move.fence:
            guard.append(c.current_run_id == move.run_id)
        row = conn.execute(
            update(collections_t)
            .where(*guard)
            .values(values)
            .returning(c.name, c.previous_status, c.last_seq, c.version, c.status_updated_at)
        ).one_or_none()
        if row is None:
            return None
        self.write_history(
            conn,
            {
                "collection_id": move.collection_id,
                "seq": row.last_seq,
                "run_id": move.recorded_run,
                "from_status": row.previous_status,
                "to_status": move.target,
                "message": move.message,
                "actor": move.actor,
                "event_id": move.event_id,
                "at": row.status_updated_at,
            },
        )
        payload = events.with_database_fields(
            move.payload,
            collection_name=row.name,
            seq=row.last_seq,
            from_status=row.previous_status,
            at=row.status_updated_at,
        )
        self.add_event(conn, events.STATUS_CHANGED, move.collection_id, payload)
        return row

    def write_history(self, conn: Connection, row: dict[str, Any]) -> None:
        """Insert one ``status_events`` row."""
        conn.execute(portable.INSERT_HISTORY, row)

    def add_event(self, conn: Connection, topic: str, key: str, payload: dict[str, Any]) -> int:
        """Insert an outbox event row; its id."""
        mark_outbox_written(conn)
        params = {"b_topic": topic, "b_key": key, "b_payload": payload}
        return int(conn.execute(portable.ADD_EVENT, params).scalar_one())

    # --- documents ----------------------------------------------------------------------

    def claim_document(
        self, conn: Connection, run_id: str, document_id: int, attempt: int, lease: float
    ) -> ClaimedDocument | None:
        """The document, then the counters, then what the worker needs of run and collection."""
        fence = portable.fence(run_id, document_id, attempt)
        row = conn.execute(portable.CLAIM, fence | {"b_lease": lease}).one_or_none()
        if row is None:
            return None
        portable.move_counters(
            conn, row.collection_id, run_id, DocumentState.PENDING, DocumentState.PROCESSING
        )
        run = conn.execute(
            portable.CLAIM_CONTEXT,
            {"b_run": run_id, "b_collection": row.collection_id, "b_document": document_id},
        ).one()
        return ClaimedDocument(
            row.collection_id,
            row.path,
            row.media_type,
            row.sha256,
            row.lease_expires_at,
            run.name,
            dict(run.options),
            run.status,
            bool(run.had_chunks),
        )

    def finish_document(
        self, conn: Connection, outcome: DocumentOutcome, *, begin: bool, add_first: bool
    ) -> Any:
        """The outcome under its fence, the chunks replaced, the counters, the event."""
        result = outcome.result
        fence = portable.fence(outcome.run_id, outcome.document_id, outcome.attempt)
        new_chunks = new_embedded = 0
        values: dict[str, Any]
        if result is None:
            statement, values = portable.FINISH_FAILED, {"b_error": outcome.error or "failed"}
        else:
            new_chunks = len(result.chunks)
            new_embedded = new_chunks if result.embeddings is not None else 0
            statement, values = (
                portable.FINISH_DONE,
                {
                    "b_chunks": new_chunks,
                    "b_embedded": new_embedded,
                    "b_metadata": result.metadata,
                    "b_sha256": outcome.sha256,
                    "b_options": outcome.fingerprint,
                },
            )
        if conn.execute(statement, fence | values).rowcount != 1:
            return None
        old_chunks, old_embedded = portable.drop_chunks(conn, outcome.document_id)
        if result is not None:
            _insert_chunks(conn, outcome.document_id, outcome.collection_id, result)
        counters = portable.move_counters(
            conn,
            outcome.collection_id,
            outcome.run_id,
            DocumentState.PROCESSING,
            DocumentState.FAILED if result is None else DocumentState.DONE,
            chunks_delta=new_chunks - old_chunks,
            embedded_delta=new_embedded - old_embedded,
        )
        payload = events.with_counters(outcome.payload, counters)
        self.add_event(conn, payload["type"], outcome.collection_id, payload)
        return counters

    def lexical_search(
        self,
        conn: Connection,
        collection_id: str,
        terms: Sequence[str],
        limit: int,
        document_ids: Sequence[int] | None,
    ) -> list[tuple[int, float]]:
        """FTS5 with BM25 (``sqlite_lexical``)."""
        return lexical_search(conn, collection_id, terms, limit, document_ids)

    def make_durable(self, conn: Connection) -> None:
        """Nothing to do: every SQLite commit is synchronous."""

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
        """The claim as a plain ordered read: the write transaction is the only writer."""
        params: dict[str, Any] = {"limit": limit, "kinds": kinds, "after": after, "skip": skip}
        return list(conn.execute(_claim_statement(skip_keys=bool(skip)), params))

    def mark_published(self, conn: Connection, ids: Sequence[int], *, commit: bool) -> None:
        """Set ``published_at`` (the write transaction commits it)."""
        conn.execute(_MARK, {"ids": list(ids)})

    def tail_outbox(self, conn: Connection, after: int, limit: int) -> OutboxTail:
        """A plain ordered read: one writer at a time makes ids visible in commit order."""
        rows = conn.execute(_TAIL, {"after": after, "limit": limit}).all()
        top = conn.execute(_TOP).scalar_one_or_none()
        return OutboxTail(rows=list(rows), top=top, horizon=None)

    def flush_committed(self, engine: Engine) -> None:
        """Nothing to wait for: SQLite commits synchronously."""

    def listen(self, engine: Engine, channel: str) -> Listener | None:
        """SQLite has no notifications: the relay polls, or is woken in-process."""
        return None

    def session_lock(self, engine: Engine, name: str) -> SessionLock:
        """An exclusive ``flock`` on ``<database>.<name>.lock``."""
        return FileLock(Path(str(engine.url.database) + f".{name}.lock"))

    def lock_holder_exists(self, engine: Engine, name: str) -> bool | None:
        """Cannot be told without taking the lock."""
        return None

    def server_started_at(self, conn: Connection) -> dt.datetime | None:
        """An embedded file has no server, and its commits are durable when acknowledged."""
        return None


def _insert_chunks(conn: Connection, document_id: int, collection_id: str, result: Any) -> None:
    """A document's new chunk rows (and embeddings), in one ``executemany``.

    The driver's executemany: through Core, binding 43 rows of 10 values cost three times
    what SQLite took to insert them.
    """
    model = result.embedding_model
    rows = []
    for i, chunk in enumerate(result.chunks):
        vector = result.embeddings[i] if result.embeddings is not None else None
        rows.append(
            (
                document_id,
                collection_id,
                chunk.ordinal,
                chunk.text,
                chunk.start,
                chunk.end,
                chunk.token_count,
                vector.astype("<f4").tobytes() if vector is not None else None,
                model if vector is not None else None,
                int(vector.shape[0]) if vector is not None else None,
            )
        )
    if rows:
        conn.exec_driver_sql(_INSERT_CHUNKS, rows)


_CHUNK_COLUMNS = (
    "document_id",
    "collection_id",
    "ordinal",
    "text",
    "start_offset",
    "end_offset",
    "token_count",
    "embedding",
    "embedding_model",
    "embedding_dim",
)
_INSERT_CHUNKS = (
    f"INSERT INTO chunks ({', '.join(_CHUNK_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_CHUNK_COLUMNS))})"
)


_o = outbox_t.c


@functools.cache
def _claim_statement(skip_keys: bool) -> Any:
    """Due rows in id order, each with the first row blocking its key (no locks: the
    relay's write transaction is SQLite's only writer).

    ``blocker`` is the lowest id of an unpublished, unparked row of the same key that lies
    below the key's last claimed row but is not claimed itself: locked by another relay,
    in backoff, not due yet, or of a kind not being published. Claimed rows of that key at
    or above it must wait; rows below it are the head of their key and may go.
    """
    conditions = [
        _o.published_at.is_(None),
        _o.parked_at.is_(None),
        _o.available_at <= db_now(),
        _o.kind.in_(bindparam("kinds", expanding=True)),
        _o.id > bindparam("after"),
    ]
    if skip_keys:
        conditions.append(_o.key.not_in(bindparam("skip", expanding=True)))
    cand = (
        select(_o.id, _o.kind, _o.topic, _o.key, _o.payload, _o.attempts, _o.created_at)
        .where(*conditions)
        .order_by(_o.id)
        .limit(bindparam("limit"))
        .cte("cand")
    )
    b = outbox_t.alias("b")
    keyed = select(
        cand,
        func.max(cand.c.id).over(partition_by=cand.c.key).label("last_id"),
        func.row_number().over(partition_by=cand.c.key, order_by=cand.c.id).label("nth"),
    ).cte("keyed")
    # One index probe per key (on the key's first row), never a scan of the whole backlog,
    # spread over the key's rows by a window: linear in the batch (no join of rows and keys).
    first_blocker = (
        select(func.min(b.c.id))
        .where(
            b.c.key == keyed.c.key,
            b.c.id < keyed.c.last_id,
            b.c.published_at.is_(None),
            b.c.parked_at.is_(None),
            b.c.id.not_in(select(cand.c.id)),
        )
        .scalar_subquery()
    )
    probed = select(keyed, case((keyed.c.nth == 1, first_blocker), else_=None).label("probe")).cte(
        "probed"
    )
    p = probed.c
    return select(
        p.id,
        p.kind,
        p.topic,
        p.key,
        p.payload,
        p.attempts,
        p.created_at,
        func.max(p.probe).over(partition_by=p.key).label("blocker"),
        db_now().label("now"),
    ).order_by(p.id)


_TAIL = (
    select(_o.id, _o.kind, case((_o.kind == "event", _o.payload)).label("payload"))
    .where(_o.id > bindparam("after"))
    .order_by(_o.id)
    .limit(bindparam("limit"))
)
_TOP = select(func.max(_o.id))
_MARK = (
    update(outbox_t)
    .where(_o.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=db_now())
)
