"""The relay on both backends: claim by state, order per key, failures, parking, retention."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from fileintel.db import db_now, make_engine, read_tx, write_tx
from fileintel.messaging.broker import build_broker
from fileintel.models.events import new_event_id
from fileintel.models.tables import outbox_t
from fileintel.outbox import queries
from fileintel.outbox.publishers import BrokerDispatcher, NullEventSink
from fileintel.outbox.relay import Relay
from fileintel.store import outbox_state
from fileintel.store.outbox_rows import add_dispatches, add_event, dispatch_message
from tests.helpers import wait_for
from tests.outbox.support import (
    RecordingSink,
    RejectingSink,
    add_events,
    outbox_rows,
    running,
    unpublished,
)


def make_relay(engine: Engine, events: object = None, **kwargs: object) -> Relay:
    """A relay with the given events sink (default: none) and the stub broker."""
    sink = events if events is not None else NullEventSink()
    return Relay(engine, sink, BrokerDispatcher(build_broker("stub://")), **kwargs)  # type: ignore[arg-type]


def make_due(engine: Engine) -> None:
    """End every backoff now (instead of waiting for it)."""
    with write_tx(engine) as conn:
        conn.execute(
            update(outbox_t).where(outbox_t.c.published_at.is_(None)).values(available_at=db_now())
        )


def test_a_pass_publishes_committed_rows_and_marks_them(engine: Engine) -> None:
    add_events(engine, "c1", 3)
    add_events(engine, "c2", 2)
    sink = RejectingSink(set())
    relay = make_relay(engine, sink, batch_size=4)

    first = relay.run_once()
    second = relay.run_once()
    third = relay.run_once()

    assert (first.claimed, first.published, second.published, third.claimed) == (4, 4, 1, 0)
    rows = outbox_rows(engine)
    assert all(r.published_at is not None and r.attempts == 0 for r in rows)
    assert sink.published == [r.payload["event_id"] for r in rows]
    assert first.lag_seconds >= 0


def test_a_row_that_commits_after_a_higher_id_is_still_published(pg_url: str) -> None:
    """The ordering gap: A draws a lower id but commits after B's row was published."""
    engine = make_engine(pg_url)
    try:
        sink = RejectingSink(set())
        relay = make_relay(engine, sink)
        slow = engine.connect()
        tx = slow.begin()
        late_event = new_event_id()
        add_event(slow, "test.event", "ka", {"event_id": late_event})  # id 1, uncommitted
        early = add_events(engine, "kb", 1)  # id 2, committed

        assert relay.run_once().published == 1
        tx.commit()
        slow.close()
        assert relay.run_once().published == 1

        assert sink.published == [*early, late_event]
        assert unpublished(engine) == 0
    finally:
        engine.dispose()


def test_a_failing_row_backs_off_holds_its_key_and_is_parked_after_max_attempts(
    engine: Engine,
) -> None:
    poison, *after = add_events(engine, "blocked", 3)
    others = add_events(engine, "free", 2)
    sink = RejectingSink({poison})
    relay = make_relay(engine, sink, max_attempts=3)

    first = relay.run_once()
    assert (first.published, first.failed, first.parked) == (2, 1, 0)
    assert first.held == 2, "the key's later rows wait behind the failed one"
    assert sink.published == others

    poison_id = next(r.id for r in outbox_rows(engine) if r.payload["event_id"] == poison)

    def backoff_of(row_id: int) -> float:
        with read_tx(engine) as conn:
            row = conn.execute(
                select(outbox_t.c.available_at, db_now().label("now")).where(
                    outbox_t.c.id == row_id
                )
            ).one()
        return float((row.available_at - row.now).total_seconds())

    assert 0.5 < backoff_of(poison_id) <= 1.0
    waiting = relay.run_once()
    assert (waiting.published, waiting.held) == (0, 2), "in backoff: the whole key waits"
    make_due(engine)
    assert relay.run_once().failed == 1
    assert 1.5 < backoff_of(poison_id) <= 2.0, "exponential backoff"
    make_due(engine)
    third = relay.run_once()
    assert third.parked == 1
    parked = next(r for r in outbox_rows(engine) if r.payload["event_id"] == poison)
    assert parked.parked_at is not None and parked.attempts == 3
    assert parked.last_error == "rejected by the test sink"

    # A parked row no longer holds its key back.
    assert relay.run_once().published == 2
    assert sink.published == [*others, *after]

    # retry-parked puts it back, due now, with fresh attempts.
    with write_tx(engine) as conn:
        assert outbox_state.retry_parked(conn) == 1
    sink.reject.clear()
    assert relay.run_once().published == 1
    assert sink.published[-1] == poison
    assert unpublished(engine) == 0


def test_a_malformed_dispatch_is_parked_while_other_rows_flow(engine: Engine) -> None:
    good = dispatch_message("fileintel-runs", "start_run", ["r1"])
    bad = {**dispatch_message("fileintel-runs", "start_run", ["r2"])}
    del bad["message_timestamp"]
    with write_tx(engine) as conn:
        add_dispatches(conn, [bad, good])
    add_events(engine, "c", 2)
    broker = build_broker("stub://")
    relay = Relay(engine, NullEventSink(), BrokerDispatcher(broker), max_attempts=2)

    first = relay.run_once()
    assert (first.published, first.failed) == (3, 1)
    assert broker.queues["fileintel-runs"].qsize() == 1
    make_due(engine)
    assert relay.run_once().parked == 1
    (row,) = [r for r in outbox_rows(engine) if r.parked_at is not None]
    assert row.kind == "dispatch" and "malformed dispatch payload" in row.last_error
    with read_tx(engine) as conn:
        status = outbox_state.outbox_status(conn)
    assert (status["backlog"], status["parked"]) == (1, 1)
    assert status["parked_rows"][0]["id"] == row.id


def test_many_keys_behind_a_blocked_one_are_not_starved(engine: Engine) -> None:
    poison, *_ = add_events(engine, "blocked", 30)
    free = add_events(engine, "free", 5)
    sink = RejectingSink({poison})
    relay = make_relay(engine, sink, batch_size=10)
    relay.run_once()  # the poison row fails and backs off; its key's rows fill a batch

    result = relay.run_once()

    assert result.published == 5, "the claim looks past the blocked key's rows"
    assert sink.published == free


def test_purge_deletes_only_old_published_rows(engine: Engine) -> None:
    add_events(engine, "c", 4)
    relay = make_relay(engine, batch_size=2)
    relay.run_once()  # two published, two not
    with write_tx(engine) as conn:
        conn.execute(
            update(outbox_t)
            .where(outbox_t.c.published_at.is_not(None))
            .values(published_at=db_now(-3600))
        )
    relay.run_once()  # two more published, just now

    assert relay.purge_published(60) == 2
    assert outbox_state.purge_published(engine, 60, batch=1) == 0
    assert len(outbox_rows(engine)) == 2


def test_run_forever_is_woken_by_commits_and_stops_when_asked(engine: Engine) -> None:
    relay = make_relay(
        engine, RecordingSink(), poll_seconds=0.2 if engine.dialect.name == "sqlite" else 30
    )
    with running(relay):
        started = time.monotonic()
        for _ in range(3):
            add_events(engine, "c", 2)
            wait_for(lambda: unpublished(engine) == 0, 5, "the relay to publish")
        # With a 30 s poll on PostgreSQL, only the NOTIFY can have woken it this soon.
        assert time.monotonic() - started < 5


def test_a_lost_listen_connection_falls_back_to_polling(pg_url: str) -> None:
    engine = make_engine(pg_url)
    relay = make_relay(engine, poll_seconds=0.1)
    try:
        with running(relay):
            wait_for(lambda: relay._wakeup is not None, 5, "the relay to listen")
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN fileintel_outbox%' AND pid <> pg_backend_pid()"
                        " AND datname = current_database()"
                    )
                )
            add_events(engine, "c", 3)
            wait_for(lambda: unpublished(engine) == 0, 5, "the relay to publish")
    finally:
        engine.dispose()


@pytest.mark.parametrize("delay", [0.0, 30.0])
def test_a_dispatch_keeps_its_eta(engine: Engine, delay: float) -> None:
    message = dispatch_message("fileintel-runs", "start_run", ["r"], delay_seconds=delay)
    with write_tx(engine) as conn:
        add_dispatches(conn, [message])  # due now, eta (if any) in the message
    broker = build_broker("stub://")
    Relay(engine, NullEventSink(), BrokerDispatcher(broker)).run_once()
    queued = broker.queues["fileintel-runs"].qsize()
    delayed = broker.queues["fileintel-runs.DQ"].qsize()
    assert (queued, delayed) == ((1, 0) if delay == 0 else (0, 1))


def test_backoff_grows_and_is_capped() -> None:
    assert [queries.backoff_seconds(n) for n in (1, 2, 3, 9, 10, 50)] == [
        1.0,
        2.0,
        4.0,
        256.0,
        300.0,
        300.0,
    ]


def test_db_clock_lag_is_reported(engine: Engine) -> None:
    with write_tx(engine) as conn:
        add_event(conn, "t", "k", {"event_id": new_event_id()})
        conn.execute(update(outbox_t).values(created_at=db_now(-5)))
    result = make_relay(engine).run_once()
    assert 4.5 < result.lag_seconds < 60
    assert isinstance(outbox_rows(engine)[0].published_at, dt.datetime)


def test_a_lost_prepared_claim_costs_one_pass(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        relay = make_relay(engine)
        relay.run_once()  # prepares the claim on the pooled connection
        with engine.connect() as conn:
            conn.exec_driver_sql("DEALLOCATE ALL")
        with pytest.raises(Exception, match="does not exist"):
            relay.run_once()
        add_events(engine, "c", 2)
        assert relay.run_once().published == 2
    finally:
        engine.dispose()


def _loops(plan: dict[str, Any], relation: str, alias: str) -> int:
    """Times the plan scanned ``relation`` under ``alias`` (summed over its nodes)."""
    own = plan.get("Actual Loops", 0) if plan.get("Alias") == alias else 0
    if plan.get("Relation Name") != relation:
        own = 0
    return own + sum(_loops(p, relation, alias) for p in plan.get("Plans", []))


def test_the_claim_probes_each_key_once_whatever_the_batch(pg_url: str) -> None:
    """A run's fan-out claimed in one batch: one blocker probe per key, not one per pair of
    rows (a join planned as a nested loop on a fresh, unanalysed table did 124,000 probes
    for 500 dispatches and took 0.3 s)."""
    engine = make_engine(pg_url)
    try:
        messages = [dispatch_message("documents", "process_document", [i]) for i in range(300)]
        with write_tx(engine) as conn:
            add_dispatches(conn, messages)
        add_events(engine, "one-collection", 40)
        with engine.connect() as conn:  # the claim, then the same statement explained
            claimed = queries.claim_batch(conn, 500)
            assert len(claimed.rows) == 340 and claimed.held == 0
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE fileintel_outbox_claim "
                "(500, ARRAY['event', 'dispatch'], 0, ARRAY[]::text[])"
            ).scalar_one()[0]["Plan"]
            conn.rollback()
        assert _loops(plan, "outbox", "b") == 301  # 300 dispatch keys + 1 collection
    finally:
        engine.dispose()


def test_without_an_events_sink_event_rows_wait_for_a_dispatch_or_the_poll(pg_url: str) -> None:
    """Event rows alone do not wake a relay whose events go nowhere: five finished
    documents' events are marked together, in the pass the next dispatch wakes."""
    engine = make_engine(pg_url)
    relay = make_relay(engine, poll_seconds=30)
    relay.publishers["dispatch"].broker.declare_queue("documents")  # type: ignore[attr-defined]
    passes: list[int] = []
    run_once = relay.run_once

    def counted() -> Any:
        result = run_once()
        passes.append(result.published)
        return result

    relay.run_once = counted  # type: ignore[method-assign]
    try:
        with running(relay):
            wait_for(lambda: passes == [0], 5, "the relay's first pass")
            for _ in range(5):
                add_events(engine, "c", 1)
            with write_tx(engine) as conn:
                add_dispatches(conn, [dispatch_message("documents", "process_document", [1])])
            wait_for(lambda: sum(passes) == 6, 5, "the dispatch to wake the relay")
            assert passes == [0, 6], "one pass, woken by the dispatch, took the events with it"
            assert unpublished(engine) == 0
    finally:
        engine.dispose()
