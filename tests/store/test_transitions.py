"""The transition function: guards, typed errors, fencing, and races between writers.

Every test runs on SQLite and PostgreSQL. Races use a barrier so the writers really start
together; on SQLite each thread has its own engine on the shared file.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from fileintel.cli import main
from fileintel.db import read_tx, write_tx
from fileintel.errors import (
    AlreadyProcessing,
    ConcurrentUpdate,
    InvalidTransition,
    NotFound,
    StaleRun,
    StateError,
)
from fileintel.models.states import CollectionStatus as S
from fileintel.models.tables import collections_t, outbox_t, runs_t, status_events_t
from fileintel.store.runs import request_processing, run_view
from fileintel.store.transitions import transition
from tests.helpers import (
    complete_racer,
    invariant_h_and_o,
    make_collection,
    race_in_processes,
    race_in_threads,
)

N_RACERS = 6
OPTIONS: dict[str, Any] = {"embeddings": False, "metadata": False}


def snapshot(engine: Engine, collection_id: str) -> tuple[Any, ...]:
    """Everything a status change writes: the collection row, its history and outbox rows."""
    with read_tx(engine) as conn:
        coll = conn.execute(select(collections_t).where(collections_t.c.id == collection_id)).one()
        events = conn.execute(
            select(status_events_t).where(status_events_t.c.collection_id == collection_id)
        ).all()
        outbox = conn.execute(select(func.count()).select_from(outbox_t)).scalar_one()
    return tuple(coll), [tuple(r) for r in events], outbox


def move(engine: Engine, collection_id: str, target: S, **kwargs: Any) -> Any:
    """One transition in its own transaction."""
    kwargs.setdefault("actor", "test")
    with write_tx(engine) as conn:
        return transition(conn, collection_id, target, **kwargs)


def refused_and_committed(engine: Engine, collection_id: str, target: S, **kwargs: Any) -> Any:
    """Attempt a transition, catch its StateError and *commit* the transaction anyway.

    Committing proves the refused call wrote nothing itself (rather than being saved by a
    rollback). Returns the exception.
    """
    kwargs.setdefault("actor", "test")
    with write_tx(engine) as conn:
        try:
            transition(conn, collection_id, target, **kwargs)
        except StateError as e:
            return e
    raise AssertionError(f"transition to {target} was not refused")


def to_processing(engine: Engine, collection_id: str) -> str:
    """Request processing and start the run; return the run id."""
    with write_tx(engine) as conn:
        run_id = request_processing(conn, collection_id, options=OPTIONS)
    move(engine, collection_id, S.PROCESSING, run_id=run_id, fence_run=True)
    return run_id


# --- correlation: from a task id to its collection ------------------------------------


def test_run_id_finds_its_collection(engine: Engine, db_url: str, capsys: Any) -> None:
    make_collection(engine, "other", 1)
    collection_id = make_collection(engine, "reports", 3)
    with write_tx(engine) as conn:
        run_id = request_processing(conn, collection_id, options=OPTIONS)

    with read_tx(engine) as conn:
        view = run_view(conn, run_id)
    assert view["collection_id"] == collection_id
    assert view["collection_name"] == "reports"
    assert view["status"] == "queued"
    assert view["attempt"] == 1

    assert main(["--database-url", db_url, "runs", "show", run_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"id", "collection_id", "collection_name", "status", "attempt", "documents"} <= set(
        shown
    )
    assert (shown["id"], shown["collection_id"], shown["collection_name"]) == (
        run_id,
        collection_id,
        "reports",
    )
    assert shown["status"] == "queued"
    assert shown["attempt"] == 1
    assert shown["documents"] == {
        "total": 3,
        "pending": 3,
        "processing": 0,
        "done": 0,
        "failed": 0,
        "skipped": 0,
    }
    # The run id is also the collection's current run and appears in its history.
    history = invariant_h_and_o(engine, collection_id)
    assert history[-1].run_id == run_id
    with read_tx(engine) as conn:
        current = conn.execute(
            select(collections_t.c.current_run_id).where(collections_t.c.id == collection_id)
        ).scalar_one()
    assert current == run_id


def test_second_request_gets_next_attempt(engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 2)
    first = to_processing(engine, collection_id)
    move(engine, collection_id, S.COMPLETED, run_id=first, fence_run=True)
    with write_tx(engine) as conn:
        second = request_processing(conn, collection_id, options=OPTIONS, kind="process")
    with read_tx(engine) as conn:
        assert run_view(conn, first)["attempt"] == 1
        assert run_view(conn, first)["is_current"] is False
        assert run_view(conn, second)["attempt"] == 2
        assert run_view(conn, second)["is_current"] is True
    invariant_h_and_o(engine, collection_id)


# --- refused moves write nothing --------------------------------------------------------


def test_invalid_transition_is_refused_and_writes_nothing(engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 1)
    before = snapshot(engine, collection_id)

    error = refused_and_committed(engine, collection_id, S.COMPLETED)

    assert isinstance(error, InvalidTransition)
    assert error.collection_id == collection_id
    assert error.found == "created"
    assert error.target == "completed"
    assert error.allowed_from == ["processing"]
    assert collection_id in str(error) and "'created'" in str(error)
    assert "processing" in str(error)
    assert snapshot(engine, collection_id) == before
    invariant_h_and_o(engine, collection_id)


@pytest.mark.parametrize(
    ("source_path", "target"),
    [
        ([], S.PROCESSING),
        ([], S.CREATED),
        ([S.QUEUED], S.COMPLETED),
        ([S.QUEUED], S.QUEUED),
        ([S.QUEUED, S.PROCESSING, S.COMPLETED], S.PROCESSING),
        ([S.QUEUED, S.CANCELLED], S.CANCELLED),
    ],
)
def test_every_illegal_move_is_refused(engine: Engine, source_path: list[S], target: S) -> None:
    collection_id = make_collection(engine, "c")
    for step in source_path:
        move(engine, collection_id, step)
    before = snapshot(engine, collection_id)
    error = refused_and_committed(engine, collection_id, target)
    assert isinstance(error, InvalidTransition)
    assert error.found == (source_path[-1] if source_path else S.CREATED).value
    assert snapshot(engine, collection_id) == before


def test_only_from_narrows_the_sources(engine: Engine) -> None:
    collection_id = make_collection(engine, "c")
    move(engine, collection_id, S.QUEUED)
    error = refused_and_committed(engine, collection_id, S.CANCELLED, only_from=[S.PROCESSING])
    assert isinstance(error, InvalidTransition)
    assert error.allowed_from == ["processing"]


def test_unknown_collection_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no-such-id"):
        move(engine, "no-such-id", S.QUEUED)


def test_legal_move_writes_history_and_one_outbox_event(engine: Engine) -> None:
    collection_id = make_collection(engine, "c")
    change = move(engine, collection_id, S.QUEUED, message="go", actor="alice")
    assert (change.from_status, change.to_status, change.seq, change.version) == (
        S.CREATED,
        S.QUEUED,
        2,
        2,
    )
    history = invariant_h_and_o(engine, collection_id)
    assert [(r.from_status, r.to_status) for r in history] == [
        (None, "created"),
        ("created", "queued"),
    ]
    assert history[-1].event_id == change.event_id
    with read_tx(engine) as conn:
        coll = conn.execute(select(collections_t).where(collections_t.c.id == collection_id)).one()
    assert coll.previous_status == "created"
    assert coll.status_message == "go"
    assert coll.status_updated_at == change.at


# --- fencing and compare-and-set --------------------------------------------------------


def test_stale_run_is_refused_even_when_the_move_is_legal(engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 2)
    old_run = to_processing(engine, collection_id)
    move(engine, collection_id, S.CANCELLED, run_id=old_run, fence_run=True)
    with write_tx(engine) as conn:
        new_run = request_processing(conn, collection_id, options=OPTIONS)
    before = snapshot(engine, collection_id)

    # queued → processing is legal, but old_run no longer owns the collection.
    error = refused_and_committed(
        engine, collection_id, S.PROCESSING, run_id=old_run, fence_run=True
    )
    assert isinstance(error, StaleRun)
    assert error.run_id == old_run
    assert new_run in error.reason
    assert snapshot(engine, collection_id) == before

    # The current run may make the same move.
    move(engine, collection_id, S.PROCESSING, run_id=new_run, fence_run=True)
    invariant_h_and_o(engine, collection_id)


def test_fenced_write_without_a_current_run_is_stale(engine: Engine) -> None:
    collection_id = make_collection(engine, "c")
    move(engine, collection_id, S.QUEUED)
    error = refused_and_committed(
        engine, collection_id, S.PROCESSING, run_id="some-run", fence_run=True
    )
    assert isinstance(error, StaleRun)


def test_version_mismatch_is_a_concurrent_update(engine: Engine) -> None:
    collection_id = make_collection(engine, "c")
    move(engine, collection_id, S.QUEUED)  # version 1 → 2
    before = snapshot(engine, collection_id)

    error = refused_and_committed(engine, collection_id, S.PROCESSING, expected_version=1)
    assert isinstance(error, ConcurrentUpdate)
    assert (error.expected_version, error.found_version) == (1, 2)
    assert snapshot(engine, collection_id) == before

    change = move(engine, collection_id, S.PROCESSING, expected_version=2)
    assert change.version == 3
    invariant_h_and_o(engine, collection_id)


# --- races ------------------------------------------------------------------------------


def outcome_kinds(results: list[tuple[str, Any]]) -> Counter[str]:
    return Counter("ok" if kind == "ok" else type(value).__name__ for kind, value in results)


def test_racing_completions_one_wins(engine: Engine, db_url: str) -> None:
    collection_id = make_collection(engine, "c", 1)
    run_id = to_processing(engine, collection_id)

    def complete(eng: Engine, i: int) -> Any:
        return move(eng, collection_id, S.COMPLETED, run_id=run_id, fence_run=True, actor=f"t{i}")

    results = race_in_threads(db_url, N_RACERS, complete)
    kinds = outcome_kinds(results)
    assert kinds["ok"] == 1, kinds
    assert set(kinds) <= {"ok", "InvalidTransition", "ConcurrentUpdate"}, kinds
    history = invariant_h_and_o(engine, collection_id)
    assert [r.to_status for r in history].count("completed") == 1


def test_racing_moves_to_different_targets_one_wins(engine: Engine, db_url: str) -> None:
    collection_id = make_collection(engine, "c", 1)
    run_id = to_processing(engine, collection_id)
    targets = [S.COMPLETED, S.FAILED, S.CANCELLED, S.COMPLETED_WITH_ERRORS]

    def finish(eng: Engine, i: int) -> Any:
        return move(eng, collection_id, targets[i % len(targets)], run_id=run_id)

    results = race_in_threads(db_url, N_RACERS, finish)
    kinds = outcome_kinds(results)
    assert kinds["ok"] == 1, kinds
    assert set(kinds) <= {"ok", "InvalidTransition", "ConcurrentUpdate"}, kinds
    history = invariant_h_and_o(engine, collection_id)
    assert len(history) == 4


def test_racing_version_cas_one_wins(engine: Engine, db_url: str) -> None:
    collection_id = make_collection(engine, "c")
    move(engine, collection_id, S.QUEUED)  # version 2

    def cancel_at_v2(eng: Engine, i: int) -> Any:
        return move(eng, collection_id, S.CANCELLED, expected_version=2)

    kinds = outcome_kinds(race_in_threads(db_url, N_RACERS, cancel_at_v2))
    assert kinds["ok"] == 1, kinds
    assert set(kinds) <= {"ok", "ConcurrentUpdate", "InvalidTransition"}, kinds
    invariant_h_and_o(engine, collection_id)


def test_racing_requests_create_exactly_one_run(engine: Engine, db_url: str) -> None:
    collection_id = make_collection(engine, "c", 2)
    first = to_processing(engine, collection_id)
    move(engine, collection_id, S.FAILED, run_id=first, fence_run=True)

    def request(eng: Engine, i: int) -> Any:
        with write_tx(eng) as conn:
            return request_processing(conn, collection_id, options=OPTIONS, actor=f"t{i}")

    results = race_in_threads(db_url, N_RACERS, request)
    kinds = outcome_kinds(results)
    assert kinds == Counter({"ok": 1, "AlreadyProcessing": N_RACERS - 1}), kinds
    winner = next(value for kind, value in results if kind == "ok")
    for kind, value in results:
        if kind == "error":
            assert isinstance(value, AlreadyProcessing)
            assert value.run_id == winner
    with read_tx(engine) as conn:
        runs = conn.execute(
            select(runs_t.c.id, runs_t.c.attempt).where(runs_t.c.collection_id == collection_id)
        ).all()
        current = conn.execute(
            select(collections_t.c.current_run_id).where(collections_t.c.id == collection_id)
        ).scalar_one()
    assert sorted(r.attempt for r in runs) == [1, 2]
    assert current == winner
    invariant_h_and_o(engine, collection_id)


def test_racing_processes_one_wins(engine: Engine, db_url: str) -> None:
    collection_id = make_collection(engine, "c", 1)
    run_id = to_processing(engine, collection_id)
    outcomes = race_in_processes(3, complete_racer, (db_url, collection_id, run_id))
    assert outcomes.count("ok") == 1, outcomes
    losers = [o for o in outcomes if o != "ok"]
    assert all(o.startswith(("InvalidTransition:", "ConcurrentUpdate:")) for o in losers), losers
    invariant_h_and_o(engine, collection_id)
