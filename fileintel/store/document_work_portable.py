"""A document's claim, lease and finish as Core statements with bind parameters, built once.

SQLite runs the claim and the finish through these (PostgreSQL has its own hot path,
``document_work_pg``); both backends renew and release a lease with them. Building and
caching a Core statement per call cost more CPU than running it on SQLite
(``benchmarks/document_work/bench.py``, ``docs/performance.md``). Parameters are prefixed
``b_`` so that none shares a name with a column the statement sets.

Every write after the claim is fenced by ``OWNED``: the document must still be processing
for this run and attempt (``fence``), or the statement changes nothing and the caller
raises StaleRun.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, bindparam, exists, select, update

from fileintel.db import db_now
from fileintel.models.states import DocumentState
from fileintel.models.tables import chunks_t, collections_t, documents_t, runs_t

_d, _r = documents_t.c, runs_t.c

#: ``pending → processing`` with a lease of ``b_lease`` seconds, for run ``b_run``'s
#: attempt ``b_attempt`` of document ``b_document``; returns what the worker needs.
CLAIM = (
    update(documents_t)
    .where(
        _d.id == bindparam("b_document"),
        _d.run_id == bindparam("b_run"),
        _d.attempt == bindparam("b_attempt"),
        _d.state == DocumentState.PENDING.value,
    )
    .values(
        state=DocumentState.PROCESSING.value,
        lease_expires_at=db_now(bindparam("b_lease", type_=Float)),
        dispatched_at=None,
    )
    .returning(_d.collection_id, _d.path, _d.media_type, _d.sha256, _d.lease_expires_at)
)

#: What a claim reads besides the document: the run's options and status, the
#: collection's name, and whether the document has chunks from an earlier run.
CLAIM_CONTEXT = select(
    _r.options,
    _r.status,
    select(collections_t.c.name)
    .where(collections_t.c.id == bindparam("b_collection"))
    .scalar_subquery()
    .label("name"),
    exists().where(chunks_t.c.document_id == bindparam("b_document")).label("had_chunks"),
).where(_r.id == bindparam("b_run"))

#: The document, while this run's attempt still owns it (the parameters ``fence`` gives).
OWNED = update(documents_t).where(
    _d.id == bindparam("b_document"),
    _d.run_id == bindparam("b_run"),
    _d.attempt == bindparam("b_attempt"),
    _d.state == DocumentState.PROCESSING.value,
)
_FINISHED = {"lease_expires_at": None, "finished_at": db_now()}

#: ``processing → done`` with the outcome's counts, metadata and what it was computed from.
FINISH_DONE = OWNED.values(
    **_FINISHED,
    state=DocumentState.DONE.value,
    error=None,
    chunk_count=bindparam("b_chunks", type_=Integer),
    embedded_count=bindparam("b_embedded", type_=Integer),
    metadata=bindparam("b_metadata", type_=_d.metadata.type),
    processed_sha256=bindparam("b_sha256", type_=_d.processed_sha256.type),
    processed_options=bindparam("b_options", type_=_d.processed_options.type),
)

#: ``processing → failed`` with the reason; a failed document keeps no chunks, so it
#: counts none.
FINISH_FAILED = OWNED.values(
    **_FINISHED,
    state=DocumentState.FAILED.value,
    error=bindparam("b_error", type_=_d.error.type),
    chunk_count=0,
    embedded_count=0,
)

#: The lease pushed ``b_lease`` seconds forward; returns the new expiry.
RENEW_LEASE = OWNED.values(lease_expires_at=db_now(bindparam("b_lease", type_=Float))).returning(
    _d.lease_expires_at
)

#: The run is alive (a lease was renewed for it).
RUN_HEARTBEAT = update(runs_t).where(_r.id == bindparam("b_run")).values(heartbeat_at=db_now())

#: ``processing → pending`` for the same attempt, dispatched again: the message is retried,
#: and the sweeper resends it if it is lost.
RELEASE = OWNED.values(
    state=DocumentState.PENDING.value, lease_expires_at=None, dispatched_at=db_now()
)


def fence(run_id: str, document_id: int, attempt: int) -> dict[str, Any]:
    """The parameters of ``OWNED``."""
    return {"b_document": document_id, "b_run": run_id, "b_attempt": attempt}
