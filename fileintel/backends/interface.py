"""The interface every database backend implements, and the values it passes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class CollectionMove:
    """A guarded status change as a backend writes it (``store.transitions`` decides it).

    The UPDATE matches only when the collection is ``collection_id``, its status is one of
    ``sources``, and, if given, its version is ``expected_version`` and (``fence``) its
    current run is ``run_id``. With it, in the same transaction: the history row and the
    outbox event, ``payload`` completed with ``events.DATABASE_FIELDS``.
    """

    collection_id: str
    target: str
    sources: list[str]
    expected_version: int | None
    fence: bool
    run_id: str | None
    set_run: bool
    new_run_id: str | None
    recorded_run: str | None
    message: str | None
    actor: str
    event_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class ClaimedDocument:
    """What a claim returns: the document's facts, its run's options and status, the
    collection's name, and whether the document had chunks from an earlier run."""

    collection_id: str
    path: str
    media_type: str
    sha256: str
    lease_expires_at: dt.datetime
    name: str
    options: dict[str, Any]
    status: str
    had_chunks: bool


@dataclass(frozen=True)
class DocumentOutcome:
    """A finished attempt as a backend writes it: ``result`` None means it failed."""

    run_id: str
    document_id: int
    attempt: int
    collection_id: str
    result: Any  # fileintel.pipeline.ProcessedDocument | None
    error: str | None
    sha256: str
    fingerprint: str
    #: The progress event without the run's counters (``events.COUNTER_FIELDS``).
    payload: dict[str, Any]


@dataclass(frozen=True)
class OutboxTail:
    """Outbox rows above a position, in id order, as one snapshot saw them.

    ``rows`` have ``id``, ``kind`` and ``payload`` (None for dispatch rows); ``top`` is the
    highest id present. ``horizon`` is that snapshot's (xmin, xmax) transaction ids where
    a lower id can commit after a higher one (PostgreSQL), None where ids become visible in
    commit order (SQLite: one writer at a time).
    """

    rows: list[Any]
    top: int | None
    horizon: tuple[int, int] | None


class ChunksExist(Exception):
    """A finish that copied chunks first met chunks the document already had (a second
    finish of the same claim); the transaction is aborted and must be redone statement-first."""


class SessionLock(Protocol):
    """A lock held for as long as this process keeps it (the sweeper's leader lock)."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (now or already)."""

    def release(self) -> None:
        """Give the lock up."""


class Listener(Protocol):
    """A connection that receives the outbox's notifications (``select``-able)."""

    def fileno(self) -> int:
        """For ``select``."""

    def drain(self) -> set[str]:
        """The payloads of the notifications received since the last call."""

    def close(self) -> None:
        """Stop listening."""


class Backend(Protocol):
    """The statements of one database. Methods run in the caller's transaction unless
    they take an engine. ``begin``: the statement opens the transaction of a ``hot_tx``
    (ignored where ``hot_tx`` has begun it already)."""

    name: str

    def make_engine(self, url: str) -> Engine:
        """An engine with this database's connection settings."""

    def integrity_problems(self, conn: Connection) -> list[str]:
        """What a quick check of the database's own structure finds wrong (empty: nothing)."""

    def storage_problem(self, conn: Connection) -> str | None:
        """Why the database cannot grow now, when this client can tell (its disk is full)."""

    def missing_database(self, url: str) -> str | None:
        """Why the database at ``url`` is known not to exist, without creating it (a SQLite
        file that is not there); None when it may exist (a server answers for itself)."""

    def hot_tx(self, engine: Engine) -> AbstractContextManager[Connection]:
        """The transaction of a hot path (a claim, a finish, a relay pass)."""

    def move_collection(self, conn: Connection, move: CollectionMove) -> Any:
        """The guarded UPDATE, history row and event; the row (name, previous_status,
        last_seq, version, status_updated_at) or None when the guard matched nothing."""

    def write_history(self, conn: Connection, row: dict[str, Any]) -> None:
        """Insert one ``status_events`` row."""

    def add_event(self, conn: Connection, topic: str, key: str, payload: dict[str, Any]) -> int:
        """Insert an outbox event row; its id."""

    def claim_document(
        self, conn: Connection, run_id: str, document_id: int, attempt: int, lease: float
    ) -> ClaimedDocument | None:
        """``pending → processing`` with a lease and the counters moved; None when the
        document is not pending under this run and attempt (nothing written)."""

    def finish_document(
        self, conn: Connection, outcome: DocumentOutcome, *, begin: bool, add_first: bool
    ) -> Any:
        """The outcome, chunks replaced, counters moved, progress event; the run's counters
        after the move, or None when the fence matched nothing (the caller rolls back).
        ``add_first``: the document had no chunks at its claim (``ChunksExist`` if wrong)."""

    def lexical_search(
        self,
        conn: Connection,
        collection_id: str,
        terms: Sequence[str],
        limit: int,
        document_ids: Sequence[int] | None,
    ) -> list[tuple[int, float]]:
        """(chunk id, score) of the collection's chunks holding any of ``terms`` (words),
        best first, at most ``limit``; only ``document_ids``' chunks unless it is None."""

    def make_durable(self, conn: Connection) -> None:
        """Make the open hot transaction's commit wait for durability."""

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
        """Due, unpublished rows above ``after`` outside ``skip``'s keys, locked, in id
        order, each with its key's ``blocker`` and the database's ``now``."""

    def mark_published(self, conn: Connection, ids: Sequence[int], *, commit: bool) -> None:
        """Set ``published_at``; with ``commit`` the hot transaction commits in the same trip."""

    def tail_outbox(self, conn: Connection, after: int, limit: int) -> OutboxTail:
        """Up to ``limit`` outbox rows above id ``after``, for a reader that follows the
        outbox by position (``fileintel.store.event_tail``)."""

    def flush_committed(self, engine: Engine) -> None:
        """Return once every transaction committed before the call is durable."""

    def listen(self, engine: Engine, channel: str) -> Listener | None:
        """A listener for ``channel``'s notifications; None where there are none."""

    def session_lock(self, engine: Engine, name: str) -> SessionLock:
        """A lock named ``name`` that lives as long as this process holds it."""

    def lock_holder_exists(self, engine: Engine, name: str) -> bool | None:
        """Whether some process holds ``name`` (None when it cannot be told)."""

    def server_started_at(self, conn: Connection) -> dt.datetime | None:
        """When the database server last started, if a restart can lose commits that
        were acknowledged (None where it cannot)."""
