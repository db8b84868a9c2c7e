"""Every state in which nothing moves carries a warning with its cause and action within
seconds, on both backends: a run requested and not started, documents dispatched and not
claimed. Time is backdated in the database instead of waited for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select, update

from fileintel.db import db_now, read_tx, write_tx
from fileintel.models.tables import collections_t, documents_t
from fileintel.store.collections import find_collection
from fileintel.store.document_work import take_document
from fileintel.store.liveness import UNCLAIMED_WARNING_SECONDS
from fileintel.store.runs import request_processing
from fileintel.store.status import collection_status, list_collections
from fileintel.workers.actors import DocumentWorker
from tests.helpers import make_collection


def _warnings(engine: Engine, cid: str) -> dict[str, str]:
    with read_tx(engine) as conn:
        view = collection_status(conn, find_collection(conn, cid))
    assert all(set(w) == {"code", "message"} for w in view["warnings"])
    return {w["code"]: w["message"] for w in view["warnings"]}


def _backdate(engine: Engine, cid: str, seconds: float) -> None:
    """Make the collection's status and its documents' dispatches ``seconds`` older."""
    with write_tx(engine) as conn:
        now = conn.execute(select(db_now())).scalar_one()
        then: Any = now - dt.timedelta(seconds=seconds)
        conn.execute(
            update(collections_t).where(collections_t.c.id == cid).values(status_updated_at=then)
        )
        conn.execute(
            update(documents_t)
            .where(documents_t.c.collection_id == cid, documents_t.c.dispatched_at.is_not(None))
            .values(dispatched_at=then)
        )


def test_a_run_not_started_and_documents_not_claimed_are_warned_about(
    engine: Engine, worker: DocumentWorker
) -> None:
    cid = make_collection(engine, "still", n_docs=3)
    with write_tx(engine) as conn:
        run_id = request_processing(conn, cid, options={})
    assert "run_not_started" not in _warnings(engine, cid)  # just requested: not yet

    _backdate(engine, cid, UNCLAIMED_WARNING_SECONDS + 5)
    warnings = _warnings(engine, cid)
    assert warnings["run_not_started"].startswith("run requested 15 s ago and not started")
    assert "start 'fileintel worker'" in warnings["run_not_started"]

    worker.start_run(run_id)  # dispatches the three documents; nobody claims them
    assert "dispatched_not_claimed" not in _warnings(engine, cid)
    _backdate(engine, cid, 40)
    warnings = _warnings(engine, cid)
    assert "run_not_started" not in warnings
    assert warnings["dispatched_not_claimed"].startswith(
        "3 document(s) dispatched 40 s ago and not claimed; no worker is consuming"
    )
    with read_tx(engine) as conn:
        listed = list_collections(conn, stuck=True)
    assert [r["name"] for r in listed] == ["still"]

    # one document being processed: work is moving, the rest simply wait their turn
    with read_tx(engine) as conn:
        doc = conn.execute(
            select(documents_t.c.id, documents_t.c.attempt).where(
                documents_t.c.collection_id == cid
            )
        ).first()
    assert doc is not None
    take_document(engine, run_id, doc.id, doc.attempt, 60)
    assert "dispatched_not_claimed" not in _warnings(engine, cid)
