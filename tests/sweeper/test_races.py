"""Races: two sweeps at once, a sweep against a finishing worker, a slow but alive worker.

Every recovery is one guarded UPDATE that re-checks the condition it was found by, so
whoever commits second matches nothing: one decision per document per attempt (invariants
H and F), whichever thread gets there first.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from fileintel.db import make_engine, read_tx, write_tx
from fileintel.errors import StaleRun
from fileintel.messaging import PROCESS_DOCUMENT_ACTOR
from fileintel.models.tables import run_notes_t
from fileintel.store.document_work import finish_document
from fileintel.sweeper import expired_leases as lease_rule
from fileintel.sweeper.sweep import Sweeper, SweepResult
from fileintel.workers.leases import LeaseKeeper
from tests.helpers import invariant_h_and_o
from tests.sweeper.support import (
    backdate_lease,
    chunk_count,
    claim,
    claim_all,
    collection,
    counters_add_up,
    db_clock,
    dispatches,
    document,
    done_result,
    notes,
    run_row,
    settings_for,
    started,
    sweeper_for,
)

DOCUMENTS = 200


def test_two_concurrent_sweeps_redispatch_each_document_exactly_once(pg_url: str) -> None:
    engines = [make_engine(pg_url) for _ in range(3)]
    setup, *sweep_engines = engines
    try:
        work = started(setup, "crowd", DOCUMENTS)
        claim_all(setup, work, work.doc_ids)
        backdate_lease(setup, work.doc_ids, 20)
        settings = settings_for(pg_url)
        # Small batches so the two passes interleave over many transactions.
        sweepers = [Sweeper(settings, e, batch_size=25) for e in sweep_engines]
        barrier = threading.Barrier(len(sweepers))

        def sweep(sweeper: Sweeper) -> SweepResult:
            barrier.wait(timeout=30)
            return sweeper.run_once()

        with ThreadPoolExecutor(len(sweepers)) as pool:
            results = list(pool.map(sweep, sweepers))

        decided = sum((r.decisions for r in results), Counter[str]())
        assert decided == {"redispatch_expired": DOCUMENTS}, [dict(r.decisions) for r in results]
        assert all(r.errors == 0 for r in results)
        rows = [document(setup, i) for i in work.doc_ids]
        assert {(r.state, r.attempt) for r in rows} == {("pending", 2)}
        sent = Counter(
            tuple(args) for actor, args in dispatches(setup) if actor == PROCESS_DOCUMENT_ACTOR
        )
        expected = {(work.run_id, i, a): 1 for i in work.doc_ids for a in (1, 2)}
        assert sent == expected, "one dispatch row per document per attempt"
        per_doc = Counter(n.document_id for n in notes(setup, work.collection_id))
        assert per_doc == dict.fromkeys(work.doc_ids, 1)
        coll, run = collection(setup, work.collection_id), run_row(setup, work.run_id)
        assert (coll.documents_pending, coll.documents_processing) == (DOCUMENTS, 0)
        assert (run.documents_pending, run.documents_processing) == (DOCUMENTS, 0)
        assert counters_add_up(coll) and counters_add_up(run)
        assert [h.to_status for h in invariant_h_and_o(setup, work.collection_id)] == [
            "created",
            "queued",
            "processing",
        ]
    finally:
        for e in engines:
            e.dispose()


ROUNDS = 8


def test_a_sweep_racing_a_finishing_worker_lets_exactly_one_win(
    db_url: str, engine: Engine
) -> None:
    """The sweep's recover_expired_lease and the worker's finish_document, released together.

    Either the document is done (the sweep's UPDATE then matches nothing: no note, no
    dispatch) or it is re-dispatched (the late finish raises StaleRun and writes nothing).
    """
    sweep_engine, worker_engine = make_engine(db_url), make_engine(db_url)
    outcomes: Counter[str] = Counter()
    try:
        for i in range(ROUNDS):
            work = started(engine, f"race-{i}", 2)
            doc, other = work.doc_ids
            taken = claim(engine, work, doc)
            claim(engine, work, other)  # keeps the run open whoever wins
            backdate_lease(engine, [doc], 5)
            now = db_clock(engine)
            with read_tx(engine) as conn:
                [found] = lease_rule.expired_leases(conn, now, 0, 10)
            barrier = threading.Barrier(2)

            def sweep(found: Any = found, now: Any = now, barrier: Any = barrier) -> Any:
                barrier.wait(timeout=30)
                with write_tx(sweep_engine) as conn:
                    return lease_rule.recover_expired_lease(conn, found, now, 3)

            def finish(taken: Any = taken, barrier: Any = barrier) -> Any:
                barrier.wait(timeout=30)
                try:
                    with write_tx(worker_engine) as conn:
                        return finish_document(conn, taken, done_result()).state.value
                except StaleRun as e:
                    return e

            with ThreadPoolExecutor(2) as pool:
                swept, finished = pool.submit(sweep), pool.submit(finish)
                decision, outcome = swept.result(timeout=60), finished.result(timeout=60)

            row = document(engine, doc)
            coll = collection(engine, work.collection_id)
            assert counters_add_up(coll)
            if outcome == "done":
                outcomes["worker"] += 1
                assert decision is None, "the sweep acted on a document that was done"
                assert (row.state, row.attempt) == ("done", 1)
                assert chunk_count(engine, doc) == 1
                assert notes(engine, work.collection_id) == []
                assert (coll.documents_done, coll.documents_processing) == (1, 1)
            else:
                outcomes["sweep"] += 1
                assert isinstance(outcome, StaleRun), outcome
                assert decision == "redispatch_expired"
                assert (row.state, row.attempt) == ("pending", 2)
                assert chunk_count(engine, doc) == 0, "the late finish wrote chunks"
                assert (coll.documents_done, coll.documents_pending) == (0, 1)
                assert len(notes(engine, work.collection_id)) == 1
            invariant_h_and_o(engine, work.collection_id)
    finally:
        sweep_engine.dispose()
        worker_engine.dispose()
    assert sum(outcomes.values()) == ROUNDS


def test_a_slow_document_with_a_live_heartbeat_is_never_redispatched(
    db_url: str, engine: Engine
) -> None:
    lease, heartbeat, held = 1.0, 0.2, 3.0
    work = started(engine, "slow-but-alive", 1)
    [doc] = work.doc_ids
    taken = claim(engine, work, doc, lease=lease)
    sweeper = sweeper_for(engine, db_url)
    passes: list[SweepResult] = []
    keeper_engine = make_engine(db_url)
    try:
        keeper = LeaseKeeper(keeper_engine, lease, heartbeat)
        with keeper.holding(taken) as kept:
            deadline = time.monotonic() + held
            while time.monotonic() < deadline:
                passes.append(sweeper.run_once())
                time.sleep(0.05)
            assert not kept.lost
        keeper.close()
    finally:
        keeper_engine.dispose()

    assert len(passes) >= 10
    assert sum(p.acted for p in passes) == 0, [dict(p.decisions) for p in passes if p.acted]
    assert notes(engine, work.collection_id) == []
    row = document(engine, doc)
    assert (row.state, row.attempt) == ("processing", 1)
    with write_tx(engine) as conn:  # the slow worker finishes: its result counts
        assert finish_document(conn, taken, done_result()).run_finished is not None
    assert collection(engine, work.collection_id).status == "completed"


def test_a_lease_that_stops_being_renewed_is_recovered_after_it_expires(
    db_url: str, engine: Engine
) -> None:
    """The other side of the previous test: the same lease, not renewed, is swept."""
    work = started(engine, "stopped-heartbeat", 1)
    [doc] = work.doc_ids
    claim(engine, work, doc, lease=1.0)
    sweeper = sweeper_for(engine, db_url)
    assert sweeper.run_once().acted == 0
    result = sweeper.run_once(db_clock(engine) + dt.timedelta(seconds=1.5))
    assert dict(result.decisions) == {"redispatch_expired": 1}
    with read_tx(engine) as conn:
        assert conn.execute(select(func.count()).select_from(run_notes_t)).scalar_one() == 1


@pytest.mark.parametrize("batch_size", [1, 7])
def test_keyset_batches_visit_every_candidate_once(
    db_url: str, engine: Engine, batch_size: int
) -> None:
    work = started(engine, f"batches-{batch_size}", 20)
    claim_all(engine, work, work.doc_ids)
    backdate_lease(engine, work.doc_ids[::2], 10)
    sweeper = Sweeper(settings_for(db_url), engine, batch_size=batch_size)
    result = sweeper.run_once()
    assert dict(result.decisions) == {"redispatch_expired": 10}
    assert result.found == 10
    assert sorted(n.document_id for n in notes(engine, work.collection_id)) == work.doc_ids[::2]
