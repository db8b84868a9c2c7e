"""Finishing a document in its own transaction (``commit_outcome``), as a worker does.

On PostgreSQL the chunks of a document that had none at its claim are copied in before the
finish statement takes the collection row, which every claim and finish of the collection
waits for; a document that had chunks gets its new ones after the statement deleted the
old. Either way, a finish of the same claim twice writes once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, text

from fileintel.db import write_tx
from fileintel.errors import StaleRun
from fileintel.store.document_work import Finished, claim_document, commit_outcome
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, chunk_rows, collection_row, deliver_outbox
from tests.helpers import wait_for
from tests.store.test_database_work import (
    LEASE,
    assert_finished_like_pipeline,
    claim_one_document,
    pipeline_result,
    request_run,
    snapshot,
)


def test_a_claim_says_whether_the_document_has_chunks(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, _run_id, doc, claim = claim_one_document(engine, worker, corpus)
    assert claim.had_chunks is False
    commit_outcome(engine, claim, pipeline_result(claim))
    deliver_outbox(engine, worker)

    forced = request_run(engine, collection_id, force=True)
    worker.start_run(forced)
    with write_tx(engine) as conn:
        assert claim_document(conn, forced, doc.id, 1, LEASE).had_chunks is True


def test_committing_the_same_outcome_twice_writes_once(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id, _doc, claim = claim_one_document(engine, worker, corpus)
    result = pipeline_result(claim)
    assert commit_outcome(engine, claim, result).state == "done"
    after_first = snapshot(engine, collection_id, [run_id])
    # The claim still says "no chunks": on PostgreSQL the second COPY meets the first one's
    # rows, and the finish falls back to the statement first, whose fence refuses it.
    with pytest.raises(StaleRun, match="already handled"):
        commit_outcome(engine, claim, result)
    assert snapshot(engine, collection_id, [run_id]) == after_first
    assert collection_row(engine, collection_id).chunks_total == len(result.chunks)

    deliver_outbox(engine, worker)
    assert_finished_like_pipeline(engine, collection_id, corpus)


def _blocked_finish(engine: Engine) -> Any:
    """The backend of this database waiting for a lock in a finish statement, or None."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT backend_xid, query FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND query LIKE '%fileintel_finish_done%'"
            )
        ).one_or_none()


def _finish_behind_a_locked_collection(
    engine: Engine, collection_id: str, finish: Any
) -> tuple[Any, Finished]:
    """Run ``finish`` in a thread while another transaction holds the collection row; return
    what its backend showed while it waited, and what it returned."""
    done: list[Finished] = []
    with engine.connect() as holder:
        holder.execute(
            text("SELECT 1 FROM collections WHERE id = :id FOR NO KEY UPDATE"),
            {"id": collection_id},
        )
        thread = threading.Thread(target=lambda: done.append(finish()))
        thread.start()
        try:
            blocked = wait_for(lambda: _blocked_finish(engine), 10, "the finish to wait")
        finally:
            holder.rollback()
            thread.join(10)
    assert done, "the finish did not return"
    return blocked, done[0]


# SQLite has one writer at a time: no row locks to order.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_first_finish_copies_its_chunks_before_it_waits_for_the_collection(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, _run_id, doc, claim = claim_one_document(engine, worker, corpus)
    result = pipeline_result(claim)

    blocked, finished = _finish_behind_a_locked_collection(
        engine, collection_id, lambda: commit_outcome(engine, claim, result)
    )
    # The COPY wrote (the transaction has an id) before the statement waited for the row.
    assert blocked.backend_xid is not None
    assert "fileintel_finish_done_added" in blocked.query
    assert finished.state == "done"
    chunks = [c[1:] for c in chunk_rows(engine, collection_id) if c[1] == doc.id]
    assert len(chunks) == len(result.chunks)
    deliver_outbox(engine, worker)  # the rest of the run

    # Reprocessed, the document has chunks: the statement waits before anything is written,
    # then deletes the old chunks, and the new ones follow.
    forced = request_run(engine, collection_id, force=True)
    worker.start_run(forced)
    with write_tx(engine) as conn:
        again = claim_document(conn, forced, doc.id, 1, LEASE)
    blocked, finished = _finish_behind_a_locked_collection(
        engine, collection_id, lambda: commit_outcome(engine, again, result)
    )
    assert blocked.backend_xid is None
    assert "fileintel_finish_done_added" not in blocked.query
    assert finished.state == "done"
    assert [c[1:] for c in chunk_rows(engine, collection_id) if c[1] == doc.id] == chunks
