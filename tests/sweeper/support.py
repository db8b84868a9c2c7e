"""Helpers of the sweeper suite: work in a given state, backdated clocks, real processes.

- ``queued`` / ``started``: a collection with N documents and a run, built through the real
  store functions (``create_collection``, ``register_documents``, ``request_processing``,
  ``begin_run``), so counters, history and outbox are what production writes.
- ``claim`` / ``claim_all``: documents taken by a worker (``claim_document``) under a lease.
- ``backdate_*``: move a lease, a dispatch time, a run heartbeat or the unpublished outbox
  rows into the past with one UPDATE, written in the same form the code under test writes
  it, instead of sleeping; ``publish_outbox``: what the relay writes once it sent the rows.
- ``notes`` / ``dispatches`` / ``snapshot``: what a sweep wrote (or did not write).
- ``fileintel`` itself, in this process or as subprocesses: ``tests/processes.py``.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, update

from fileintel.config import Settings
from fileintel.db import db_now, read_tx, write_tx
from fileintel.models import Base
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import (
    chunks_t,
    collections_t,
    documents_t,
    outbox_t,
    run_notes_t,
    runs_t,
)
from fileintel.pipeline import ProcessedDocument, TextChunk
from fileintel.store.document_work import Claim, claim_document
from fileintel.store.lifecycle import begin_run
from fileintel.store.outbox_rows import DISPATCH
from fileintel.store.runs import request_processing
from fileintel.store.transitions import transition
from fileintel.sweeper.sweep import Sweeper
from tests.helpers import make_collection

#: A lease long enough that it never runs out by itself during a test.
LONG_LEASE = 600.0
TERMINAL = ("completed", "completed_with_errors", "failed", "cancelled")


# --- settings and the sweeper -------------------------------------------------------------


def settings_for(url: str, **changes: Any) -> Settings:
    """Settings on ``url`` with the in-process broker; ``changes`` override fields."""
    return Settings(database_url=url).with_overrides(**changes)


def sweeper_for(engine: Engine, url: str, **changes: Any) -> Sweeper:
    """A sweeper on ``engine`` with the default settings except ``changes``."""
    return Sweeper(settings_for(url, **changes), engine)


# --- work in a given state ----------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """A collection, its current run and its documents (ids in id order)."""

    collection_id: str
    run_id: str
    doc_ids: list[int]


def document_ids(engine: Engine, collection_id: str) -> list[int]:
    """The collection's document ids in id order."""
    d = documents_t.c
    with read_tx(engine) as conn:
        return list(
            conn.execute(select(d.id).where(d.collection_id == collection_id).order_by(d.id))
            .scalars()
            .all()
        )


def queued(
    engine: Engine, name: str, n_docs: int, *, deadline_seconds: float | None = None
) -> Work:
    """A collection of ``n_docs`` documents with a run requested (``queued``)."""
    collection_id = make_collection(engine, name, n_docs)
    with write_tx(engine) as conn:
        run_id = request_processing(
            conn, collection_id, options={}, actor="test", deadline_seconds=deadline_seconds
        )
    return Work(collection_id, run_id, document_ids(engine, collection_id))


def started(engine: Engine, name: str, n_docs: int) -> Work:
    """A collection whose run a worker started: every document dispatched as attempt 1."""
    work = queued(engine, name, n_docs)
    with write_tx(engine) as conn:
        begin_run(conn, work.run_id, actor="test")
    return work


def close_collection(engine: Engine, work: Work, status: CollectionStatus) -> None:
    """Move the collection (not its run) to ``status`` through the transition function."""
    with write_tx(engine) as conn:
        transition(
            conn,
            work.collection_id,
            status,
            actor="test",
            run_id=work.run_id,
            fence_run=True,
        )


def claim(
    engine: Engine, work: Work, doc_id: int, attempt: int = 1, lease: float = LONG_LEASE
) -> Claim:
    """What a worker does first: take document ``doc_id`` under a lease."""
    with write_tx(engine) as conn:
        return claim_document(conn, work.run_id, doc_id, attempt, lease)


def claim_all(
    engine: Engine, work: Work, doc_ids: Iterable[int], lease: float = LONG_LEASE
) -> list[Claim]:
    """Claim many documents (attempt 1) in one transaction."""
    with write_tx(engine) as conn:
        return [claim_document(conn, work.run_id, i, 1, lease) for i in doc_ids]


def done_result(text: str = "some text of the document") -> ProcessedDocument:
    """A pipeline result with one chunk and no embedding."""
    return ProcessedDocument(
        chunks=[TextChunk(0, text, 0, len(text), len(text.split()))],
        embeddings=None,
        embedding_model=None,
        metadata={"words": len(text.split())},
    )


# --- clocks in the past -------------------------------------------------------------------


def db_clock(engine: Engine) -> dt.datetime:
    """The database's current time."""
    with read_tx(engine) as conn:
        return conn.execute(select(db_now())).scalar_one()


def backdate_lease(engine: Engine, doc_ids: Iterable[int], seconds_ago: float) -> None:
    """Make the documents' leases have ended ``seconds_ago`` (written as heartbeats write it)."""
    d = documents_t.c
    with write_tx(engine) as conn:
        conn.execute(
            update(documents_t)
            .where(d.id.in_(list(doc_ids)))
            .values(lease_expires_at=db_now(-seconds_ago))
        )


def backdate_dispatch(engine: Engine, doc_ids: Iterable[int], seconds_ago: float) -> None:
    """Make the documents look dispatched ``seconds_ago`` (written as ``begin_run`` does)."""
    d = documents_t.c
    with write_tx(engine) as conn:
        conn.execute(
            update(documents_t)
            .where(d.id.in_(list(doc_ids)))
            .values(dispatched_at=db_now(-seconds_ago))
        )


def backdate_outbox(engine: Engine, seconds_ago: float) -> None:
    """Make every unpublished outbox row look written and due ``seconds_ago`` (a relay that
    has been down that long)."""
    o = outbox_t.c
    with write_tx(engine) as conn:
        conn.execute(
            update(outbox_t)
            .where(o.published_at.is_(None))
            .values(created_at=db_now(-seconds_ago), available_at=db_now(-seconds_ago))
        )


def publish_outbox(engine: Engine) -> int:
    """Mark every unpublished outbox row published, as the relay does once it has sent them;
    return how many."""
    o = outbox_t.c
    with write_tx(engine) as conn:
        return int(
            conn.execute(
                update(outbox_t).where(o.published_at.is_(None)).values(published_at=db_now())
            ).rowcount
        )


def backdate_run_heartbeat(engine: Engine, run_id: str, seconds_ago: float) -> None:
    """Make a run's heartbeat ``seconds_ago`` old, bound from Python as
    ``request_processing`` writes it."""
    at = db_clock(engine) - dt.timedelta(seconds=seconds_ago)
    with write_tx(engine) as conn:
        conn.execute(update(runs_t).where(runs_t.c.id == run_id).values(heartbeat_at=at))


# --- reading what happened ----------------------------------------------------------------


def document(engine: Engine, doc_id: int) -> Any:
    """The document row."""
    with read_tx(engine) as conn:
        return conn.execute(select(documents_t).where(documents_t.c.id == doc_id)).one()


def run_row(engine: Engine, run_id: str) -> Any:
    """The run row."""
    with read_tx(engine) as conn:
        return conn.execute(select(runs_t).where(runs_t.c.id == run_id)).one()


def collection(engine: Engine, collection_id: str) -> Any:
    """The collection row."""
    with read_tx(engine) as conn:
        return conn.execute(select(collections_t).where(collections_t.c.id == collection_id)).one()


def notes(engine: Engine, collection_id: str) -> list[Any]:
    """The collection's run notes in the order they were written."""
    n = run_notes_t.c
    with read_tx(engine) as conn:
        return list(
            conn.execute(
                select(run_notes_t).where(n.collection_id == collection_id).order_by(n.id)
            ).all()
        )


def dispatches(engine: Engine, actor: str | None = None) -> list[tuple[str, list[Any]]]:
    """Every dispatch row as (actor name, args), in id order."""
    o = outbox_t.c
    query = select(o.payload).where(o.kind == DISPATCH).order_by(o.id)
    if actor is not None:
        query = query.where(o.topic == actor)
    with read_tx(engine) as conn:
        return [(p["actor_name"], list(p["args"])) for p in conn.execute(query).scalars()]


def chunk_count(engine: Engine, doc_id: int) -> int:
    """How many chunk rows a document has."""
    with read_tx(engine) as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(chunks_t).where(chunks_t.c.document_id == doc_id)
            ).scalar_one()
        )


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order (to prove nothing changed)."""
    tables = {}
    with read_tx(engine) as conn:
        for table in Base.metadata.sorted_tables:
            key = list(table.primary_key.columns)
            tables[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*key))]
    return tables


def counters_add_up(row: Any) -> bool:
    """True when a collection's or run's per-state counters sum to its total."""
    by_state = (
        row.documents_pending
        + row.documents_processing
        + row.documents_done
        + row.documents_failed
        + row.documents_skipped
    )
    return bool(by_state == row.documents_total)


# --- the sweep lock and free ports ------------------------------------------------------


def sweep_lock_holders(pg_url: str) -> int:
    """How many sessions hold the sweep lock in ``pg_url``'s database (pg_locks)."""
    from sqlalchemy import create_engine, text

    from fileintel.backends.postgresql import LOCK_KEYS

    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND database = (SELECT oid FROM pg_database"
                        "                 WHERE datname = current_database())"
                        " AND ((classid::bigint << 32) | objid::bigint) = :key"
                    ),
                    {"key": LOCK_KEYS["sweep"]},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
