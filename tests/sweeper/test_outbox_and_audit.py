"""What a pass does around the outbox and the audit, on SQLite and PostgreSQL.

- While the relay is not sending (a due dispatch row older than the dispatch timeout is
  unpublished), the "message lost?" rules hold back: nothing is re-sent, the pass says why.
- A document the sweeper fails gets the same ``document.failed`` event a worker writes, and
  loses its chunks from an earlier run as a worker's failed finish does.
- The collection/run audit runs on a sweeper's first pass, then every ``audit_interval``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, insert, select, update

from fileintel.db import db_now, read_tx, write_tx
from fileintel.messaging import PROCESS_DOCUMENT_ACTOR
from fileintel.models.events import STATUS_CHANGED
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import documents_t, outbox_t, runs_t
from fileintel.store.document_work import finish_document
from fileintel.store.lifecycle import begin_run
from fileintel.store.outbox_rows import DISPATCH, EVENT
from fileintel.store.runs import request_processing
from fileintel.sweeper.sweep import Sweeper
from tests.helpers import invariant_h_and_o
from tests.processes import cli, cli_env, cli_json
from tests.sweeper.support import (
    Work,
    backdate_dispatch,
    backdate_lease,
    backdate_outbox,
    backdate_run_heartbeat,
    chunk_count,
    claim,
    close_collection,
    collection,
    db_clock,
    dispatches,
    document,
    done_result,
    notes,
    publish_outbox,
    queued,
    run_row,
    settings_for,
    started,
    sweeper_for,
)

DISPATCH_TIMEOUT = 120.0
#: Longer ago than the dispatch timeout.
LONG_AGO = DISPATCH_TIMEOUT + 10


def oldest_unpublished_dispatch(engine: Engine) -> int:
    """The id of the oldest unpublished dispatch row."""
    o = outbox_t.c
    with read_tx(engine) as conn:
        return int(
            conn.execute(
                select(o.id)
                .where(o.kind == DISPATCH, o.published_at.is_(None))
                .order_by(o.id)
                .limit(1)
            ).scalar_one()
        )


def started_by_a_worker(engine: Engine, name: str, n_docs: int) -> Work:
    """A run whose start message the relay sent and a worker took: only the documents'
    dispatch rows are unpublished."""
    work = queued(engine, name, n_docs)
    publish_outbox(engine)
    with write_tx(engine) as conn:
        begin_run(conn, work.run_id, actor="test")
    return work


def test_while_the_relay_is_down_an_unclaimed_document_is_not_sent_again(
    engine: Engine, db_url: str
) -> None:
    work = started_by_a_worker(engine, "relay-down-doc", 1)
    [doc] = work.doc_ids
    backdate_dispatch(engine, [doc], LONG_AGO)
    backdate_outbox(engine, LONG_AGO)  # its message never left the outbox
    unsent = oldest_unpublished_dispatch(engine)
    sweeper = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT)
    before = dispatches(engine)

    held = sweeper.run_once()

    assert (dict(held.decisions), held.found) == ({}, 0)
    assert held.held is not None and f"dispatch row {unsent} (process_document)" in held.held
    assert f"written {LONG_AGO:.0f} s ago and is still unpublished" in held.held
    assert document(engine, doc).attempt == 1
    assert dispatches(engine) == before, "nothing is added to the backlog"
    assert notes(engine, work.collection_id) == []

    publish_outbox(engine)  # the relay is back and sends the backlog; the broker loses it
    resent = sweeper.run_once()

    assert resent.held is None
    assert dict(resent.decisions) == {"redispatch_unclaimed": 1}
    assert document(engine, doc).attempt == 2
    assert dispatches(engine)[len(before) :] == [(PROCESS_DOCUMENT_ACTOR, [work.run_id, doc, 2])]


def test_while_the_relay_is_down_an_unstarted_run_is_not_sent_again(
    engine: Engine, db_url: str
) -> None:
    work = queued(engine, "relay-down-start", 1)
    backdate_run_heartbeat(engine, work.run_id, LONG_AGO)
    backdate_outbox(engine, LONG_AGO)
    env = cli_env(db_url, extra={"FILEINTEL_DISPATCH_TIMEOUT_SECONDS": str(DISPATCH_TIMEOUT)})

    shown = cli_json(["sweep"], env)
    said = cli(["sweep"], env)

    assert (shown["decisions"], shown["found"]) == ({}, 0)
    assert shown["held"] is not None and "the outbox is not draining" in shown["held"]
    assert said.returncode == 0
    assert said.stdout.splitlines()[0].startswith(
        "held: unclaimed documents and unstarted runs not re-sent: the outbox is not draining"
    ), said.stdout
    assert len(dispatches(engine)) == 1
    assert run_row(engine, work.run_id).status == "queued"

    publish_outbox(engine)
    resent = cli_json(["sweep"], env)

    assert (resent["decisions"], resent["held"]) == ({"redispatch_start": 1}, None)
    assert len(dispatches(engine)) == 2


def test_parked_and_not_yet_due_rows_do_not_hold_back(engine: Engine, db_url: str) -> None:
    """A parked row never drains and a delayed one is not late: neither says the relay is
    down, so a lost message is still sent again."""
    work = started_by_a_worker(engine, "parked", 1)
    [doc] = work.doc_ids
    backdate_dispatch(engine, [doc], LONG_AGO)
    backdate_outbox(engine, LONG_AGO)
    parked = oldest_unpublished_dispatch(engine)
    o = outbox_t.c
    with write_tx(engine) as conn:
        conn.execute(update(outbox_t).where(o.id == parked).values(parked_at=db_now()))
        conn.execute(
            insert(outbox_t).values(
                kind=DISPATCH,
                topic=PROCESS_DOCUMENT_ACTOR,
                key="dispatch:delayed",
                payload={"delayed": True},
                created_at=db_now(-LONG_AGO),
                available_at=db_now(60),
                attempts=0,
            )
        )

    result = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT).run_once()

    assert result.held is None
    assert dict(result.decisions) == {"redispatch_unclaimed": 1}


def test_a_relay_outage_does_not_use_up_the_retry_budget(engine: Engine, db_url: str) -> None:
    """Dispatches the relay has not sent yet are not lost: while it is down nothing is sent
    again, and waiting for it does not count as failed attempts.

    With the relay down for three dispatch timeouts, the document keeps attempt 1 and one
    dispatch row; then one worker is lost and the document still has retries left.
    """
    work = started(engine, "relay-down", 1)
    [doc] = work.doc_ids
    sweeper = sweeper_for(engine, db_url, dispatch_timeout_seconds=DISPATCH_TIMEOUT)
    at = db_clock(engine)
    for _ in range(3):  # the relay is down: nothing was published, nothing was claimed
        at += dt.timedelta(seconds=DISPATCH_TIMEOUT + 5)
        result = sweeper.run_once(at)
        assert (dict(result.decisions), result.held is not None) == ({}, True)
    assert dispatches(engine, PROCESS_DOCUMENT_ACTOR) == [
        (PROCESS_DOCUMENT_ACTOR, [work.run_id, doc, 1])
    ]
    assert document(engine, doc).attempt == 1

    # The relay is back; a worker claims the message and dies with it.
    publish_outbox(engine)
    claim(engine, work, doc, attempt=1)
    backdate_lease(engine, [doc], 5)
    result = sweeper.run_once()

    said = [n.message for n in notes(engine, work.collection_id)]
    assert dict(result.decisions) == {"redispatch_expired": 1}, said
    assert said == [
        f"lease of document {doc} expired 5 s ago (attempt 1/3); re-dispatched as attempt 2"
    ]


def events(engine: Engine, topic: str) -> list[Any]:
    """Event rows of ``topic`` in id order."""
    o = outbox_t.c
    with read_tx(engine) as conn:
        return list(
            conn.execute(
                select(outbox_t).where(o.kind == EVENT, o.topic == topic).order_by(o.id)
            ).all()
        )


def test_a_document_the_sweeper_fails_gets_the_workers_failed_event(
    engine: Engine, db_url: str
) -> None:
    work = started(engine, "failed-event", 2)
    broken, lost = work.doc_ids
    taken = claim(engine, work, broken)
    with write_tx(engine) as conn:  # a worker fails one document: the reference event
        finish_document(conn, taken, None, "unreadable file")
    claim(engine, work, lost)
    backdate_lease(engine, [lost], 20)

    result = sweeper_for(engine, db_url, max_document_attempts=1).run_once()

    assert dict(result.decisions) == {"fail_document": 1}
    worker_event, sweeper_event = events(engine, "document.failed")
    assert sweeper_event.key == work.collection_id
    payload = sweeper_event.payload
    assert set(payload) == set(worker_event.payload)
    assert payload["event_id"] != worker_event.payload["event_id"]
    assert {k: payload[k] for k in ("type", "run_id", "document_id", "state", "attempt")} == {
        "type": "document.failed",
        "run_id": work.run_id,
        "document_id": lost,
        "state": "failed",
        "attempt": 1,
    }
    assert payload["path"] == document(engine, lost).path
    assert payload["collection_name"] == "failed-event"
    assert (payload["error"], payload["chunks"]) == ("worker lost 1 times (lease expired)", 0)
    assert payload["documents"] == {
        "total": 2,
        "pending": 0,
        "processing": 0,
        "done": 0,
        "failed": 2,
        "skipped": 0,
    }
    # It is written before the status change it led to (the run closed with it).
    closed = events(engine, STATUS_CHANGED)[-1]
    assert sweeper_event.id < closed.id
    assert collection(engine, work.collection_id).status == "failed"
    invariant_h_and_o(engine, work.collection_id)


def test_a_document_the_sweeper_fails_keeps_no_chunks_of_an_earlier_run(
    engine: Engine, db_url: str
) -> None:
    work = started(engine, "failed-chunks", 1)
    [doc] = work.doc_ids
    taken = claim(engine, work, doc)
    with write_tx(engine) as conn:  # the first run succeeds: one chunk, counted
        finish_document(conn, taken, done_result())
    assert (chunk_count(engine, doc), collection(engine, work.collection_id).chunks_total) == (
        1,
        1,
    )
    with write_tx(engine) as conn:  # reprocessed, and its worker is lost
        run_id = request_processing(conn, work.collection_id, options={"force": True})
        begin_run(conn, run_id, actor="test")
    claim(engine, Work(work.collection_id, run_id, [doc]), doc)
    backdate_lease(engine, [doc], 20)

    result = sweeper_for(engine, db_url, max_document_attempts=1).run_once()

    assert dict(result.decisions) == {"fail_document": 1}
    row = document(engine, doc)
    assert (row.state, row.chunk_count, row.embedded_count) == ("failed", 0, 0)
    assert chunk_count(engine, doc) == 0, "search must not find the failed document's chunks"
    coll = collection(engine, work.collection_id)
    assert (coll.status, coll.chunks_total, coll.chunks_embedded) == ("failed", 0, 0)
    invariant_h_and_o(engine, work.collection_id)


def break_agreement(engine: Engine, run_id: str) -> None:
    """A hand edit: the run closed, its collection left open."""
    with write_tx(engine) as conn:
        conn.execute(update(runs_t).where(runs_t.c.id == run_id).values(status="failed"))


def test_the_audit_runs_on_the_first_pass_then_once_per_interval(
    engine: Engine, db_url: str
) -> None:
    ticks = [1000.0]
    sweeper = Sweeper(settings_for(db_url), engine, audit_interval=60, clock=lambda: ticks[0])
    assert sweeper.run_once().audited, "a new sweeper audits at once"

    work = started(engine, "audit", 1)
    break_agreement(engine, work.run_id)
    ticks[0] += 59
    early = sweeper.run_once()

    assert (early.audited, dict(early.decisions)) == (False, {})
    assert collection(engine, work.collection_id).status == "processing"
    assert sweeper.run_once(audit=True).audited, "asked for, it runs whenever"

    break_agreement(engine, started(engine, "audit-2", 1).run_id)
    ticks[0] += 59  # 59 s after the forced audit: not due
    assert not sweeper.run_once().audited
    ticks[0] += 1
    due = sweeper.run_once()

    assert (due.audited, dict(due.decisions)) == (True, {"repair": 1})
    assert not sweeper.run_once().audited
    assert not sweeper.run_once(audit=False).audited


def test_a_run_found_by_a_rule_and_the_audit_is_decided_once(engine: Engine, db_url: str) -> None:
    """An open run under a closed collection whose documents are all finished matches a run
    rule and the audit: one decision, one note."""
    work = started(engine, "both", 1)
    d = documents_t.c
    with write_tx(engine) as conn:
        conn.execute(update(documents_t).where(d.run_id == work.run_id).values(state="done"))
        conn.execute(
            update(runs_t)
            .where(runs_t.c.id == work.run_id)
            .values(documents_pending=0, documents_done=1)
        )
    close_collection(engine, work, CollectionStatus.CANCELLED)

    result = sweeper_for(engine, db_url).run_once(audit=True)

    assert (result.found, dict(result.decisions)) == (1, {"repair": 1})
    assert [n.decision for n in notes(engine, work.collection_id)] == ["repair"]
    assert run_row(engine, work.run_id).status == "cancelled"
