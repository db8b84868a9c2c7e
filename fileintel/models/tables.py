"""The tables. Column docs say who writes what; the transition module owns ``status``.

- ``collections``: one row per collection, with its status and maintained counters.
- ``documents``: registered files and their state in the current run.
- ``runs``: processing attempts; a run id is the "task id" users copy and look up.
- ``status_events``: the history; one row per status change, ``seq`` contiguous per collection.
- ``outbox``: events to publish and broker messages to dispatch, written with the change.
- ``chunks``: document text pieces with their embeddings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fileintel.models.base import Base, BigId, UTCDateTime
from fileintel.models.states import CollectionStatus, DocumentState, RunStatus

_NOW = text("CURRENT_TIMESTAMP")


def _in(column: str, enum: type[CollectionStatus | RunStatus | DocumentState]) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"


class Collection(Base):
    """A named set of documents processed as a unit."""

    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default=CollectionStatus.CREATED.value)
    status_updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status_message: Mapped[str | None] = mapped_column(Text)
    #: The status before the last change; lets one guarded UPDATE return the move it made.
    previous_status: Mapped[str | None] = mapped_column(String(32))
    #: Bumped by every status change; the compare-and-set token of the transition function.
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: seq of the newest status_events row.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    current_run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # Maintained counters (documents by state, chunks): status never counts rows.
    documents_total: Mapped[int] = mapped_column(Integer, default=0)
    documents_pending: Mapped[int] = mapped_column(Integer, default=0)
    documents_processing: Mapped[int] = mapped_column(Integer, default=0)
    documents_done: Mapped[int] = mapped_column(Integer, default=0)
    documents_failed: Mapped[int] = mapped_column(Integer, default=0)
    documents_skipped: Mapped[int] = mapped_column(Integer, default=0)
    chunks_total: Mapped[int] = mapped_column(BigId, default=0)
    chunks_embedded: Mapped[int] = mapped_column(BigId, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=_NOW)

    __table_args__ = (
        CheckConstraint(_in("status", CollectionStatus), name="status_valid"),
        Index("ix_collections_status_updated", "status", "status_updated_at"),
    )


class Run(Base):
    """One processing attempt of a collection; ``id`` is the task id users see."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="process")
    status: Mapped[str] = mapped_column(String(32), default=RunStatus.QUEUED.value)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    documents_total: Mapped[int] = mapped_column(Integer, default=0)
    documents_pending: Mapped[int] = mapped_column(Integer, default=0)
    documents_processing: Mapped[int] = mapped_column(Integer, default=0)
    documents_done: Mapped[int] = mapped_column(Integer, default=0)
    documents_failed: Mapped[int] = mapped_column(Integer, default=0)
    documents_skipped: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint(_in("status", RunStatus), name="status_valid"),
        CheckConstraint("kind IN ('process', 'retry', 'reembed')", name="kind_valid"),
        UniqueConstraint("collection_id", "attempt", name="uq_runs_collection_attempt"),
        Index("ix_runs_status_requested", "status", "requested_at"),
        # and the sweeper's partial indexes: ``models.partial_indexes``
    )


class Document(Base):
    """A registered file of a collection and its state in the current run."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigId)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default=DocumentState.PENDING.value)
    #: The run that owns the current state; writes from any other run are fenced off.
    run_id: Mapped[str | None] = mapped_column(String(36))
    #: Attempt number within ``run_id``; a claim bumps it and fences earlier attempts.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    #: Times a worker died holding this document in the current run (the retry budget).
    lost_leases: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    embedded_count: Mapped[int] = mapped_column(Integer, default=0)
    doc_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    #: Content hash and options fingerprint of the last ``done``: unchanged ones are skipped.
    processed_sha256: Mapped[str | None] = mapped_column(String(64))
    processed_options: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=_NOW)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(_in("state", DocumentState), name="state_valid"),
        UniqueConstraint("collection_id", "path", name="uq_documents_collection_path"),
        Index("ix_documents_collection_state", "collection_id", "state"),
        Index("ix_documents_collection_sha256", "collection_id", "sha256"),
        # and the sweeper's partial indexes: ``models.partial_indexes``
    )


class StatusEvent(Base):
    """One status change of a collection: the history ``collections history`` shows."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(36))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("collection_id", "seq", name="uq_status_events_collection_seq"),
        CheckConstraint(_in("to_status", CollectionStatus), name="to_status_valid"),
        Index("ix_status_events_run", "run_id"),
    )


#: The two kinds of outbox row: a fact to publish, and a broker message to send.
OUTBOX_EVENT = "event"
OUTBOX_DISPATCH = "dispatch"


class OutboxMessage(Base):
    """A fact to publish (``event``) or a broker message to send (``dispatch``).

    Written in the transaction that decided it; the relay publishes rows in ``id`` order per
    ``key`` and marks them published.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(100))
    #: Ordering key: rows with the same key leave in id order (the collection id for events).
    key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    parked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("kind IN ('event', 'dispatch')", name="kind_valid"),
        Index("ix_outbox_published_at", "published_at"),
        # and the relay's partial indexes: ``models.partial_indexes``
    )


class Chunk(Base):
    """A piece of a document's text, with its embedding (float32 bytes) when computed."""

    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    collection_id: Mapped[str] = mapped_column(String(36))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    embedding_dim: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("document_id", "ordinal", name="uq_chunks_document_ordinal"),
        # A collection's chunks, and its newest chunk, in one index range (search).
        Index("ix_chunks_collection_id_id", "collection_id", "id"),
    )


# Core handles for the hot paths (SQL statements, not ORM objects).
collections_t = cast(Table, Collection.__table__)
runs_t = cast(Table, Run.__table__)
documents_t = cast(Table, Document.__table__)
status_events_t = cast(Table, StatusEvent.__table__)
outbox_t = cast(Table, OutboxMessage.__table__)
chunks_t = cast(Table, Chunk.__table__)


class ProcessHeartbeat(Base):
    """A running FileIntel process (worker, relay, scheduler) and when it was last seen."""

    __tablename__ = "process_heartbeats"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: Free-form facts a process reports (e.g. "holds_sweep_lock": true).
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_process_heartbeats_kind_seen", "kind", "seen_at"),)


process_heartbeats_t = cast(Table, ProcessHeartbeat.__table__)


class RunNote(Base):
    """Something done to a run that is not a status change (a re-dispatch, a repair).

    Status changes are in ``status_events``; these notes explain what happened between
    them ("lease of document 41 expired 93 s ago (attempt 1/3); re-dispatched").
    """

    __tablename__ = "run_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(36))
    document_id: Mapped[int | None] = mapped_column(BigId)
    decision: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_run_notes_collection_id", "collection_id", "id"),)


run_notes_t = cast(Table, RunNote.__table__)
