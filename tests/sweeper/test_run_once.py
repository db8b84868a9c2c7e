"""``Sweeper.run_once``: every decision, on SQLite and PostgreSQL, with clocks backdated.

Each test builds the situation through the real store functions, moves one timestamp into
the past with an UPDATE, runs one pass and checks the counts it returns, the document, run
and collection rows, the run note that explains the decision and the dispatch row it added.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, update

from fileintel.db import db_now, write_tx
from fileintel.errors import StaleRun
from fileintel.messaging import PROCESS_DOCUMENT_ACTOR, START_RUN_ACTOR
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import collections_t, documents_t, runs_t
from fileintel.store.document_work import claim_document, finish_document
from fileintel.store.lifecycle import begin_run
from tests.helpers import invariant_h_and_o
from tests.sweeper.support import (
    Work,
    backdate_dispatch,
    backdate_lease,
    backdate_run_heartbeat,
    claim,
    close_collection,
    collection,
    counters_add_up,
    db_clock,
    dispatches,
    document,
    done_result,
    notes,
    publish_outbox,
    queued,
    run_row,
    snapshot,
    started,
    sweeper_for,
)

DISPATCH_TIMEOUT = 120.0


def statuses(engine: Engine, collection_id: str) -> list[str]:
    """The collection's history as a list of target statuses (checks H on the way)."""
    return [h.to_status for h in invariant_h_and_o(engine, collection_id)]


def test_an_expired_lease_is_redispatched_as_the_next_attempt(engine: Engine, db_url: str) -> None:
    work = started(engine, "expired", 3)
    doc = work.doc_ids[0]
    stale = claim(engine, work, doc)
    backdate_lease(engine, [doc], 93)
    before = dispatches(engine)

    result = sweeper_for(engine, db_url).run_once()

    assert dict(result.decisions) == {"redispatch_expired": 1}
    assert (result.found, result.errors) == (1, 0)
    row = document(engine, doc)
    assert (row.state, row.attempt, row.lease_expires_at) == ("pending", 2, None)
    assert row.dispatched_at is not None
    run = run_row(engine, work.run_id)
    coll = collection(engine, work.collection_id)
    for counts in (run, coll):
        assert (counts.documents_pending, counts.documents_processing) == (3, 0)
        assert counters_add_up(counts)
    assert run.status == coll.status == "processing"
    [note] = notes(engine, work.collection_id)
    assert (note.decision, note.document_id, note.run_id, note.actor) == (
        "redispatch_expired",
        doc,
        work.run_id,
        "sweeper",
    )
    assert note.message == (
        f"lease of document {doc} expired 93 s ago (attempt 1/3); re-dispatched as attempt 2"
    )
    assert dispatches(engine)[len(before) :] == [(PROCESS_DOCUMENT_ACTOR, [work.run_id, doc, 2])]
    assert statuses(engine, work.collection_id) == ["created", "queued", "processing"]

    # The lost worker is fenced off; attempt 2's message claims it.
    superseded = "attempt 1 was superseded by attempt 2"
    with pytest.raises(StaleRun, match=superseded), write_tx(engine) as conn:
        finish_document(conn, stale, done_result())
    assert claim(engine, work, doc, attempt=2).attempt == 2


@pytest.mark.parametrize(
    ("n_docs", "final"), [(1, "failed"), (2, "completed_with_errors")], ids=["last", "mixed"]
)
def test_an_expired_lease_at_max_attempts_fails_the_document(
    engine: Engine, db_url: str, n_docs: int, final: str
) -> None:
    work = started(engine, f"exhausted-{n_docs}", n_docs)
    sweeper = sweeper_for(engine, db_url, max_document_attempts=2)
    *others, doc = work.doc_ids
    for other in others:  # every other document finishes normally
        taken = claim(engine, work, other)
        with write_tx(engine) as conn:
            finish_document(conn, taken, done_result())

    claim(engine, work, doc)
    backdate_lease(engine, [doc], 30)
    assert dict(sweeper.run_once().decisions) == {"redispatch_expired": 1}
    claim(engine, work, doc, attempt=2)
    backdate_lease(engine, [doc], 40)
    before = dispatches(engine)

    result = sweeper.run_once()

    assert dict(result.decisions) == {"fail_document": 1}
    row = document(engine, doc)
    assert (row.state, row.attempt, row.lease_expires_at) == ("failed", 2, None)
    assert row.error == "worker lost 2 times (lease expired)"
    assert dispatches(engine) == before, "no attempt 3 is dispatched"
    message = f"lease of document {doc} expired 40 s ago (attempt 2/2); no attempts left"
    assert [(n.decision, n.message[: len(message)]) for n in notes(engine, work.collection_id)][
        -1
    ] == ("fail_document", message)
    # The last document closes the run and the collection, with history and event.
    run, coll = run_row(engine, work.run_id), collection(engine, work.collection_id)
    assert run.status == coll.status == final
    assert run.finished_at is not None
    assert (run.documents_failed, run.documents_done, run.documents_processing) == (
        1,
        n_docs - 1,
        0,
    )
    assert counters_add_up(run) and counters_add_up(coll)
    history = invariant_h_and_o(engine, work.collection_id)
    assert [h.to_status for h in history] == ["created", "queued", "processing", final]
    assert coll.status_message == f"{message}, marked failed; run finished"


def test_a_document_failed_while_others_run_leaves_the_run_open(
    engine: Engine, db_url: str
) -> None:
    work = started(engine, "exhausted-open", 2)
    doc, other = work.doc_ids
    claim(engine, work, other)
    with write_tx(engine) as conn:
        conn.execute(
            update(documents_t).where(documents_t.c.id == doc).values(attempt=3, lost_leases=2)
        )
    claim(engine, work, doc, attempt=3)
    backdate_lease(engine, [doc], 10)

    result = sweeper_for(engine, db_url).run_once()

    assert dict(result.decisions) == {"fail_document": 1}
    assert document(engine, doc).state == "failed"
    assert document(engine, other).state == "processing"
    assert run_row(engine, work.run_id).status == "processing"
    assert statuses(engine, work.collection_id) == ["created", "queued", "processing"]


def test_a_dispatch_never_claimed_is_redispatched(engine: Engine, db_url: str) -> None:
    work = started(engine, "unclaimed", 2)
    lost, fresh = work.doc_ids
    backdate_dispatch(engine, [lost], DISPATCH_TIMEOUT + 10)
    before = dispatches(engine)

    result = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT).run_once()

    assert dict(result.decisions) == {"redispatch_unclaimed": 1}, (
        f"found {result.found} but decided {dict(result.decisions)}"
    )
    row = document(engine, lost)
    assert (row.state, row.attempt) == ("pending", 2)
    assert document(engine, fresh).attempt == 1
    [note] = notes(engine, work.collection_id)
    assert note.decision == "redispatch_unclaimed"
    assert note.message == (
        f"document {lost} was dispatched {DISPATCH_TIMEOUT + 10:.0f} s ago and never claimed "
        "(message lost?); re-dispatched as attempt 2"
    )
    assert dispatches(engine)[len(before) :] == [(PROCESS_DOCUMENT_ACTOR, [work.run_id, lost, 2])]
    # The first message, if it ever arrives, is fenced off.
    with pytest.raises(StaleRun), write_tx(engine) as conn:
        claim_document(conn, work.run_id, lost, 1, 60)
    assert counters_add_up(collection(engine, work.collection_id))


def test_a_queued_run_never_started_gets_its_start_redispatched(
    engine: Engine, db_url: str
) -> None:
    work = queued(engine, "never-started", 2)
    backdate_run_heartbeat(engine, work.run_id, DISPATCH_TIMEOUT + 10)

    result = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT).run_once()

    assert dict(result.decisions) == {"redispatch_start": 1}
    assert result.found == 1
    assert run_row(engine, work.run_id).status == "queued"
    [note] = notes(engine, work.collection_id)
    assert (note.decision, note.document_id) == ("redispatch_start", None)
    assert note.message == (
        f"run {work.run_id} queued {DISPATCH_TIMEOUT + 10:.0f} s without a worker starting "
        "it; start message re-dispatched"
    )
    assert dispatches(engine, START_RUN_ACTOR) == [(START_RUN_ACTOR, [work.run_id])] * 2
    # Either start message starts the run; the other one is dropped.
    with write_tx(engine) as conn:
        begin_run(conn, work.run_id)
    with pytest.raises(StaleRun), write_tx(engine) as conn:
        begin_run(conn, work.run_id)
    assert statuses(engine, work.collection_id) == ["created", "queued", "processing"]


def test_a_start_lost_twice_is_redispatched_twice(engine: Engine, db_url: str) -> None:
    """The second re-dispatch must match the heartbeat the first one wrote."""
    work = queued(engine, "lost-twice", 1)
    assert run_row(engine, work.run_id).status == "queued"
    sweeper = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT)
    later = db_clock(engine) + dt.timedelta(seconds=DISPATCH_TIMEOUT + 5)
    publish_outbox(engine)  # sent by the relay, then lost by the broker
    assert dict(sweeper.run_once(later).decisions) == {"redispatch_start": 1}

    much_later = later + dt.timedelta(seconds=DISPATCH_TIMEOUT + 5)
    publish_outbox(engine)
    result = sweeper.run_once(much_later)

    assert dict(result.decisions) == {"redispatch_start": 1}, (
        f"found {result.found} but decided {dict(result.decisions)}"
    )
    assert len(dispatches(engine, START_RUN_ACTOR)) == 3


def test_a_dispatch_lost_twice_is_redispatched_twice(engine: Engine, db_url: str) -> None:
    work = started(engine, "doc-lost-twice", 1)
    sweeper = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT)
    for attempt in (2, 3):
        later = db_clock(engine) + dt.timedelta(seconds=DISPATCH_TIMEOUT + 5)
        publish_outbox(engine)  # sent by the relay, then lost by the broker
        result = sweeper.run_once(later)
        assert dict(result.decisions) == {"redispatch_unclaimed": 1}, (
            f"attempt {attempt}: found {result.found} but decided {dict(result.decisions)}"
        )
        assert document(engine, work.doc_ids[0]).attempt == attempt


def finish_without_closing(engine: Engine, work: Work) -> None:
    """Leave every document done and the counters right, but the run open (a lost close)."""
    d, r, c = documents_t.c, runs_t.c, collections_t.c
    n = len(work.doc_ids)
    with write_tx(engine) as conn:
        conn.execute(
            update(documents_t)
            .where(d.run_id == work.run_id)
            .values(state="done", lease_expires_at=None)
        )
        conn.execute(
            update(runs_t)
            .where(r.id == work.run_id)
            .values(documents_pending=0, documents_processing=0, documents_done=n)
        )
        conn.execute(
            update(collections_t)
            .where(c.id == work.collection_id)
            .values(documents_pending=0, documents_processing=0, documents_done=n)
        )


def test_a_processing_run_with_every_document_finished_is_finalised(
    engine: Engine, db_url: str
) -> None:
    work = started(engine, "finished-open", 3)
    finish_without_closing(engine, work)

    result = sweeper_for(engine, db_url).run_once()

    assert dict(result.decisions) == {"finalize": 1}
    run, coll = run_row(engine, work.run_id), collection(engine, work.collection_id)
    assert run.status == coll.status == "completed"
    assert run.finished_at is not None
    history = invariant_h_and_o(engine, work.collection_id)
    assert [h.to_status for h in history][-1] == "completed"
    assert coll.status_message == "all documents were finished but the run was open; finalised"
    assert sweeper_for(engine, db_url).run_once().acted == 0


@pytest.mark.parametrize("stage", ["queued", "processing"])
def test_a_run_past_its_deadline_fails_with_the_reason(
    engine: Engine, db_url: str, stage: str
) -> None:
    name = f"deadline-{stage}"
    work = started(engine, name, 2) if stage == "processing" else queued(engine, name, 2)
    late = claim(engine, work, work.doc_ids[0]) if stage == "processing" else None
    with write_tx(engine) as conn:
        conn.execute(
            update(runs_t).where(runs_t.c.id == work.run_id).values(deadline_at=db_now(-5))
        )
    deadline = run_row(engine, work.run_id).deadline_at

    result = sweeper_for(engine, db_url).run_once()

    assert dict(result.decisions) == {"fail_deadline": 1}
    reason = f"run passed its deadline ({deadline.isoformat()}) while {stage}"
    run, coll = run_row(engine, work.run_id), collection(engine, work.collection_id)
    assert (run.status, run.error) == ("failed", reason)
    assert (coll.status, coll.status_message) == ("failed", reason)
    history = invariant_h_and_o(engine, work.collection_id)
    assert (history[-1].from_status, history[-1].to_status) == (stage, "failed")
    if late is not None:  # a worker still holding a document of the failed run
        with pytest.raises(StaleRun), write_tx(engine) as conn:
            finish_document(conn, late, done_result())


def test_a_closed_run_under_an_open_collection_is_repaired(engine: Engine, db_url: str) -> None:
    work = started(engine, "run-closed", 2)
    with write_tx(engine) as conn:
        conn.execute(update(runs_t).where(runs_t.c.id == work.run_id).values(status="failed"))

    result = sweeper_for(engine, db_url).run_once()

    assert dict(result.decisions) == {"repair": 1}
    history = invariant_h_and_o(engine, work.collection_id)
    last = history[-1]
    assert (last.from_status, last.to_status, last.run_id) == ("processing", "failed", work.run_id)
    coll = collection(engine, work.collection_id)
    assert coll.status_message == "repaired: the collection was processing but its run is failed"
    assert sweeper_for(engine, db_url).run_once().acted == 0


def test_an_open_run_under_a_closed_collection_is_repaired(engine: Engine, db_url: str) -> None:
    work = started(engine, "collection-closed", 2)
    close_collection(engine, work, CollectionStatus.FAILED)

    result = sweeper_for(engine, db_url).run_once()

    assert dict(result.decisions) == {"repair": 1}
    assert run_row(engine, work.run_id).status == "failed"
    [note] = notes(engine, work.collection_id)
    assert (note.decision, note.message) == (
        "repair",
        "run was processing but the collection is failed; run closed as failed",
    )
    assert statuses(engine, work.collection_id)[-1] == "failed"
    assert sweeper_for(engine, db_url).run_once().acted == 0


def test_a_sweep_never_touches_a_document_whose_lease_is_valid(engine: Engine, db_url: str) -> None:
    work = started(engine, "mixed-leases", 4)
    alive, almost, dead, waiting = work.doc_ids
    claim(engine, work, alive)
    claim(engine, work, almost, lease=5)  # expires soon, but not yet
    claim(engine, work, dead)
    backdate_lease(engine, [dead], 1)
    untouched = {i: document(engine, i) for i in (alive, almost, waiting)}

    result = sweeper_for(engine, db_url).run_once()

    assert dict(result.decisions) == {"redispatch_expired": 1}
    assert {i: document(engine, i) for i in untouched} == untouched
    assert [n.document_id for n in notes(engine, work.collection_id)] == [dead]


def test_dry_run_changes_nothing(engine: Engine, db_url: str) -> None:
    expired = started(engine, "dry-expired", 2)
    claim(engine, expired, expired.doc_ids[0])
    backdate_lease(engine, expired.doc_ids[:1], 50)
    unclaimed = started(engine, "dry-unclaimed", 1)
    backdate_dispatch(engine, unclaimed.doc_ids, DISPATCH_TIMEOUT + 1)
    never_started = queued(engine, "dry-queued", 1)
    backdate_run_heartbeat(engine, never_started.run_id, DISPATCH_TIMEOUT + 1)
    finish_without_closing(engine, started(engine, "dry-finished", 1))
    before = snapshot(engine)
    sweeper = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT)

    result = sweeper.run_once(dry_run=True)

    assert snapshot(engine) == before
    assert (result.found, result.acted, result.errors) == (4, 0, 0)
    text = "\n".join(result.messages)
    assert f"document {expired.doc_ids[0]} (run {expired.run_id}): lease expired at" in text
    assert f"document {unclaimed.doc_ids[0]} (run {unclaimed.run_id}): dispatched at" in text
    assert f"run {never_started.run_id}: queued" in text
    assert sweeper.run_once(dry_run=True).messages == result.messages
