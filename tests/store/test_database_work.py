"""The worker's database operations on a real corpus, without a broker (both backends).

Messages are delivered by ``deliver_outbox``: the dispatch rows the system committed are
handed to ``DocumentWorker`` in this thread, so every test controls exactly which message
arrives when, how often, and from which run or attempt.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from fileintel.commands.processing import run_options
from fileintel.db import read_tx, write_tx
from fileintel.errors import StaleRun
from fileintel.models.tables import status_events_t
from fileintel.pipeline import ProcessedDocument, get_embedder, process_file
from fileintel.store.collections import create_collection
from fileintel.store.document_work import (
    Claim,
    claim_document,
    finish_document,
    release_claim,
    renew_lease,
)
from fileintel.store.documents import list_documents, register_documents, scan_paths
from fileintel.store.lifecycle import cancel_run
from fileintel.store.runs import RETRY, request_processing
from fileintel.store.status import collection_status
from fileintel.sweeper import expired_leases as lease_rule
from fileintel.workers.actors import DocumentWorker, pipeline_options
from tests.corpus import (
    Corpus,
    assert_chunks_match,
    assert_documents_match,
    chunk_rows,
    collection_row,
    counters,
    deliver_outbox,
    document_rows,
    run_row,
)
from tests.helpers import invariant_h_and_o

LEASE = 60.0


def queue_corpus(
    engine: Engine, corpus: Corpus, name: str = "docs", **flags: bool
) -> tuple[str, str]:
    """Create a collection of the corpus and request a run; return (collection, run) ids."""
    with write_tx(engine) as conn:
        collection_id = create_collection(conn, name, actor="test")
        register_documents(conn, collection_id, scan_paths([str(corpus.root)]).files)
    return collection_id, request_run(engine, collection_id, "process", **flags)


def request_run(engine: Engine, collection_id: str, kind: str = "process", **flags: bool) -> str:
    """Request a run with the CLI's options (``no_embeddings``, ``force``, ...)."""
    options = run_options(
        flags.get("no_embeddings", False),
        flags.get("no_metadata", False),
        flags.get("force", False),
    )
    with write_tx(engine) as conn:
        return request_processing(conn, collection_id, options=options, kind=kind, actor="test")


def status_view(engine: Engine, collection_id: str) -> dict[str, Any]:
    """The ``collections status --json`` object."""
    with read_tx(engine) as conn:
        return collection_status(conn, collection_row(engine, collection_id))


def documents_json(engine: Engine, collection_id: str) -> list[dict[str, Any]]:
    """The ``collections documents --json`` rows."""
    with read_tx(engine) as conn:
        return list_documents(conn, collection_id)


def snapshot(engine: Engine, collection_id: str, run_ids: list[str]) -> tuple[Any, ...]:
    """Everything a late writer could change: counters, documents, chunks, history."""
    coll = collection_row(engine, collection_id)
    runs = [counters(run_row(engine, r)) | {"status": run_row(engine, r).status} for r in run_ids]
    docs = {
        p: (r.state, r.run_id, r.attempt, r.error, r.chunk_count, r.embedded_count)
        for p, r in document_rows(engine, collection_id).items()
    }
    with read_tx(engine) as conn:
        history = conn.execute(
            select(status_events_t.c.seq, status_events_t.c.to_status)
            .where(status_events_t.c.collection_id == collection_id)
            .order_by(status_events_t.c.seq)
        ).all()
    return (
        coll.status,
        counters(coll),
        runs,
        docs,
        chunk_rows(engine, collection_id),
        [tuple(h) for h in history],
    )


def assert_finished_like_pipeline(engine: Engine, collection_id: str, corpus: Corpus) -> None:
    """completed_with_errors, every document as the pipeline says, coverage 100%."""
    view = status_view(engine, collection_id)
    assert view["status"] == "completed_with_errors"
    assert view["documents"] == {
        "total": 10,
        "pending": 0,
        "processing": 0,
        "done": len(corpus.good),
        "failed": len(corpus.bad),
        "skipped": 0,
    }
    assert view["chunks"] == corpus.total_chunks
    assert view["embedding_coverage"] == 100.0
    codes = {w["code"] for w in view["warnings"]}
    assert codes <= {"no_worker"}, view["warnings"]
    assert_documents_match(documents_json(engine, collection_id), corpus)
    assert_chunks_match(engine, collection_id, corpus)
    invariant_h_and_o(engine, collection_id)


def pipeline_result(claim: Claim) -> ProcessedDocument:
    """What the worker computes for a claimed document (same options, same embedder)."""
    return process_file(Path(claim.path), pipeline_options(claim.options), get_embedder())


def one_good_document(engine: Engine, collection_id: str, corpus: Corpus) -> Any:
    """The row of the corpus's Markdown document."""
    return document_rows(engine, collection_id)[corpus.by_name("baking-guide.md").path]


def claim_one_document(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> tuple[str, str, Any, Claim]:
    """Queue the corpus, start its run and claim the Markdown document's attempt 1:
    (collection id, run id, document row, claim)."""
    collection_id, run_id = queue_corpus(engine, corpus)
    worker.start_run(run_id)
    doc = one_good_document(engine, collection_id, corpus)
    with write_tx(engine) as conn:
        claim = claim_document(conn, run_id, doc.id, 1, LEASE)
    return collection_id, run_id, doc, claim


def test_delivered_run_gives_what_the_pipeline_gives(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id = queue_corpus(engine, corpus)
    handled = deliver_outbox(engine, worker)
    assert handled == 1 + 10  # one start, one message per document
    assert_finished_like_pipeline(engine, collection_id, corpus)
    run = run_row(engine, run_id)
    assert run.status == "completed_with_errors" and run.finished_at is not None
    history = [(h.from_status, h.to_status) for h in invariant_h_and_o(engine, collection_id)]
    assert history == [
        (None, "created"),
        ("created", "queued"),
        ("queued", "processing"),
        ("processing", "completed_with_errors"),
    ]


def test_every_message_delivered_twice_counts_once(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id = queue_corpus(engine, corpus)
    assert deliver_outbox(engine, worker, times=2) == 11
    assert_finished_like_pipeline(engine, collection_id, corpus)
    before = snapshot(engine, collection_id, [run_id])

    # A third delivery of every document message, after the run closed: dropped.
    for doc in document_rows(engine, collection_id).values():
        worker.process_document(run_id, doc.id, 1)
        with pytest.raises(StaleRun, match="already handled"), write_tx(engine) as conn:
            claim_document(conn, run_id, doc.id, 1, LEASE)
    worker.start_run(run_id)
    assert snapshot(engine, collection_id, [run_id]) == before


def test_finishing_twice_with_the_same_claim_writes_once(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id, _doc, claim = claim_one_document(engine, worker, corpus)
    result = pipeline_result(claim)
    with write_tx(engine) as conn:
        first = finish_document(conn, claim, result)
    assert first.state == "done" and first.run_finished is None
    after_first = snapshot(engine, collection_id, [run_id])
    with pytest.raises(StaleRun, match="already handled"), write_tx(engine) as conn:
        finish_document(conn, claim, result)
    assert snapshot(engine, collection_id, [run_id]) == after_first
    coll = collection_row(engine, collection_id)
    assert (coll.documents_done, coll.documents_pending) == (1, 9)
    assert coll.chunks_total == coll.chunks_embedded == corpus.by_name("baking-guide.md").chunks
    assert run_row(engine, run_id).documents_done == 1

    # The rest of the run, including the duplicate message of that document, still closes it.
    deliver_outbox(engine, worker)
    assert_finished_like_pipeline(engine, collection_id, corpus)


def test_a_claim_clears_the_dispatch_time_and_giving_it_back_sets_it_again(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id = queue_corpus(engine, corpus)
    worker.start_run(run_id)
    doc = one_good_document(engine, collection_id, corpus)
    assert doc.dispatched_at is not None

    with write_tx(engine) as conn:
        claim = claim_document(conn, run_id, doc.id, 1, LEASE)
    claimed = one_good_document(engine, collection_id, corpus)
    assert (claimed.state, claimed.dispatched_at) == ("processing", None)
    assert claimed.lease_expires_at is not None
    assert claim.lease_expires_at.tzinfo is not None

    with write_tx(engine) as conn:
        release_claim(conn, claim)
    given_back = one_good_document(engine, collection_id, corpus)
    # Pending again and dispatched (the message is retried): the sweeper can find it.
    assert given_back.state == "pending" and given_back.dispatched_at is not None
    coll = collection_row(engine, collection_id)
    assert (coll.documents_pending, coll.documents_processing) == (10, 0)


def test_a_claim_after_cancel_is_refused_and_changes_no_counter(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id = queue_corpus(engine, corpus)
    worker.start_run(run_id)
    doc = one_good_document(engine, collection_id, corpus)
    with write_tx(engine) as conn:
        cancel_run(conn, collection_id, actor="test")
    before = snapshot(engine, collection_id, [run_id])

    with pytest.raises(StaleRun, match="processing run"), write_tx(engine) as conn:
        claim_document(conn, run_id, doc.id, 1, LEASE)
    assert snapshot(engine, collection_id, [run_id]) == before


def test_a_superseded_run_finishing_late_writes_nothing(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_a, _doc, claim = claim_one_document(engine, worker, corpus)
    result = pipeline_result(claim)

    with write_tx(engine) as conn:
        cancel_run(conn, collection_id, actor="test")
    run_b = request_run(engine, collection_id)
    before = snapshot(engine, collection_id, [run_a, run_b])

    with pytest.raises(StaleRun, match=f"belongs to run {run_b}"), write_tx(engine) as conn:
        finish_document(conn, claim, result)
    with pytest.raises(StaleRun), write_tx(engine) as conn:
        renew_lease(conn, claim, LEASE)
    with pytest.raises(StaleRun), write_tx(engine) as conn:
        release_claim(conn, claim)
    worker._finish(claim, result, None)  # what the actor does: logs and drops it
    assert snapshot(engine, collection_id, [run_a, run_b]) == before

    # Run A's leftover messages (its start, its documents) arrive late too: all dropped,
    # and run B processes every document once.
    deliver_outbox(engine, worker)
    assert_finished_like_pipeline(engine, collection_id, corpus)
    assert run_row(engine, run_a).status == "cancelled"
    assert counters(run_row(engine, run_a))["documents_done"] == 0
    assert run_row(engine, run_b).status == "completed_with_errors"


def test_an_expired_attempt_finishing_late_writes_nothing(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id, doc, claim = claim_one_document(engine, worker, corpus)
    result = pipeline_result(claim)

    # The sweeper, one second after the lease ran out, re-dispatches it as attempt 2.
    later = claim.lease_expires_at + dt.timedelta(seconds=1)
    with write_tx(engine) as conn:
        expired = lease_rule.expired_leases(conn, later, 0, 100)
        assert [e.id for e in expired] == [doc.id]
        assert lease_rule.recover_expired_lease(conn, expired[0], later, 3) == "redispatch_expired"
    before = snapshot(engine, collection_id, [run_id])
    assert before[3][doc.path][:3] == ("pending", run_id, 2)

    superseded = "attempt 1 was superseded by attempt 2"
    with pytest.raises(StaleRun, match=superseded), write_tx(engine) as conn:
        finish_document(conn, claim, result)
    with pytest.raises(StaleRun), write_tx(engine) as conn:
        renew_lease(conn, claim, LEASE)
    assert snapshot(engine, collection_id, [run_id]) == before

    # Attempt 1's message (delivered late) is dropped; attempt 2 does the work once.
    deliver_outbox(engine, worker)
    assert_finished_like_pipeline(engine, collection_id, corpus)
    assert document_rows(engine, collection_id)[doc.path].attempt == 2


def test_cancel_while_documents_are_in_flight_is_final(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id = queue_corpus(engine, corpus)
    worker.start_run(run_id)
    docs = sorted(document_rows(engine, collection_id).values(), key=lambda r: r.id)
    claims = []
    for doc in docs[:2]:
        with write_tx(engine) as conn:
            claims.append(claim_document(conn, run_id, doc.id, 1, LEASE))
    with write_tx(engine) as conn:
        cancel_run(conn, collection_id, actor="test")
    cancelled = snapshot(engine, collection_id, [run_id])
    assert cancelled[0] == "cancelled"
    assert cancelled[1]["documents_processing"] == 0

    # The in-flight documents finish, then every other message of the run arrives.
    for claim in claims:
        worker._finish(claim, pipeline_result(claim), None)
    deliver_outbox(engine, worker)

    assert snapshot(engine, collection_id, [run_id]) == cancelled
    history = invariant_h_and_o(engine, collection_id)
    assert history[-1].to_status == "cancelled"
    assert run_row(engine, run_id).status == "cancelled"
    assert chunk_rows(engine, collection_id) == []


def test_retry_takes_only_the_failed_documents(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, first = queue_corpus(engine, corpus)
    deliver_outbox(engine, worker)
    chunks = chunk_rows(engine, collection_id)
    retry = request_run(engine, collection_id, kind=RETRY)
    run = run_row(engine, retry)
    assert run.kind == "retry"
    assert run.documents_total == len(corpus.bad) == 3
    handled = deliver_outbox(engine, worker)
    assert handled == 1 + 3
    assert chunk_rows(engine, collection_id) == chunks  # good documents untouched
    assert_documents_match(documents_json(engine, collection_id), corpus)
    docs = document_rows(engine, collection_id)
    assert {d.run_id for d in docs.values() if d.state == "failed"} == {retry}
    assert {d.run_id for d in docs.values() if d.state == "done"} == {first}
    invariant_h_and_o(engine, collection_id)


def test_reprocessing_skips_unchanged_documents_unless_forced(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, _ = queue_corpus(engine, corpus)
    deliver_outbox(engine, worker)
    chunks = chunk_rows(engine, collection_id)

    again = request_run(engine, collection_id)
    deliver_outbox(engine, worker)
    run = run_row(engine, again)
    assert (run.documents_skipped, run.documents_failed, run.documents_done) == (7, 3, 0)
    assert run.status == "completed_with_errors"
    assert chunk_rows(engine, collection_id) == chunks
    states = {d.path: d.state for d in document_rows(engine, collection_id).values()}
    assert states == {
        e.path: ("skipped" if e.state == "done" else "failed") for e in corpus.expected.values()
    }
    view = status_view(engine, collection_id)
    assert view["chunks"] == corpus.total_chunks and view["embedding_coverage"] == 100.0

    forced = request_run(engine, collection_id, force=True)
    deliver_outbox(engine, worker)
    run = run_row(engine, forced)
    assert (run.documents_skipped, run.documents_failed, run.documents_done) == (0, 3, 7)
    assert_finished_like_pipeline(engine, collection_id, corpus)
    # Replaced, not appended: same content, new rows.
    assert [c[1:] for c in chunk_rows(engine, collection_id)] == [c[1:] for c in chunks]


def test_a_retry_that_fails_again_keeps_the_collections_successes(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    """The collection still has 7 processed documents and 3 failed ones after a retry whose
    documents all fail again: that is ``completed_with_errors`` (some failed, others
    succeeded), not ``failed`` ("nothing succeeded"), and the exit code is 3, not 1."""
    collection_id, _ = queue_corpus(engine, corpus)
    deliver_outbox(engine, worker)
    request_run(engine, collection_id, kind=RETRY)
    deliver_outbox(engine, worker)
    view = status_view(engine, collection_id)
    assert view["documents"]["done"] == 7 and view["documents"]["failed"] == 3
    assert view["status"] == "completed_with_errors", view["status_message"]
