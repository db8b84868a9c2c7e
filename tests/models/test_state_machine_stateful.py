"""Invariants H and O after any sequence of status writes, legal or not.

A hypothesis state machine drives the real transition function (and request_processing) on
a real database with random targets, fences and expected versions. A small model predicts
which typed error each call must raise, in the order the transition function explains a
refusal: unknown run (StaleRun), then version (ConcurrentUpdate), then state
(InvalidTransition). Refused calls are caught and their transaction is committed anyway, so
any stray write they made would show. After every step the history and outbox are checked.

The database is created once per backend; every example uses a fresh collection.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, select

from fileintel.db import read_tx, write_tx
from fileintel.errors import (
    AlreadyProcessing,
    ConcurrentUpdate,
    InvalidTransition,
    StaleRun,
    StateError,
)
from fileintel.models.states import TRANSITIONS, CollectionStatus, allowed_sources
from fileintel.models.tables import collections_t, runs_t
from fileintel.store.runs import request_processing
from fileintel.store.transitions import transition
from tests.helpers import invariant_h_and_o, make_collection

SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

statuses = st.sampled_from(list(CollectionStatus))
# Weighted towards calls that should apply, so sequences get somewhere.
fences = st.sampled_from(["none"] * 3 + ["current"] * 3 + ["stale", "unknown"])
versions = st.sampled_from(["none"] * 3 + ["current"] * 2 + ["old", "future"])


def expected_error(
    status: CollectionStatus,
    version: int,
    current_run: str | None,
    target: CollectionStatus,
    run_id: str | None,
    fence: bool,
    expected_version: int | None,
    only_from: list[CollectionStatus] | None,
) -> type[StateError] | None:
    """What the transition function must do: None (apply) or the error it must raise."""
    sources = allowed_sources(target)
    if only_from is not None:
        sources = [s for s in sources if s in only_from]
    if fence and current_run != run_id:
        return StaleRun
    if expected_version is not None and expected_version != version:
        return ConcurrentUpdate
    if status not in sources:
        return InvalidTransition
    return None


def build_machine(engine: Engine) -> type[RuleBasedStateMachine]:
    class StatusMachine(RuleBasedStateMachine):
        """One collection; the model is (status, version, current run, runs seen)."""

        collection_id: str
        status: CollectionStatus
        version: int
        current_run: str | None
        old_runs: list[str]

        @initialize()
        def create(self) -> None:
            self.collection_id = make_collection(engine, f"sm-{uuid.uuid4().hex[:8]}", 2)
            self.status = CollectionStatus.CREATED
            self.version = 1
            self.current_run = None
            self.old_runs = []

        def _run_for(self, fence: str) -> str | None:
            if fence == "current":
                return self.current_run
            if fence == "stale":
                return self.old_runs[-1] if self.old_runs else "never-a-run"
            if fence == "unknown":
                return str(uuid.uuid4())
            return self.current_run

        def _version_for(self, mode: str) -> int | None:
            return {
                "none": None,
                "current": self.version,
                "old": self.version - 1,
                "future": self.version + 1,
            }[mode]

        @rule(
            data=st.data(),
            legal=st.integers(0, 3),
            fence=fences,
            version_mode=versions,
            narrow=st.none() | st.none() | st.lists(statuses, max_size=4),
            replace_run=st.booleans(),
        )
        def move(
            self,
            data: st.DataObject,
            legal: int,
            fence: str,
            version_mode: str,
            narrow: list[CollectionStatus] | None,
            replace_run: bool,
        ) -> None:
            # Three times in four a move the state machine allows from here.
            to = data.draw(
                st.sampled_from(sorted(TRANSITIONS[self.status])) if legal else statuses,
                label="to",
            )
            run_id = self._run_for(fence)
            fenced = fence != "none"
            expected_version = self._version_for(version_mode)
            kwargs: dict[str, Any] = {}
            new_run = str(uuid.uuid4())
            if replace_run:
                kwargs["new_run_id"] = new_run
            want = expected_error(
                self.status,
                self.version,
                self.current_run,
                to,
                run_id,
                fenced,
                expected_version,
                narrow,
            )
            error: StateError | None = None
            with write_tx(engine) as conn:
                try:
                    change = transition(
                        conn,
                        self.collection_id,
                        to,
                        actor="machine",
                        run_id=run_id,
                        fence_run=fenced,
                        expected_version=expected_version,
                        only_from=narrow,
                        **kwargs,
                    )
                except StateError as e:
                    error = e  # committed anyway: the refusal itself must write nothing
            event(type(error).__name__ if error else "applied")
            if want is None:
                assert error is None, f"expected the move to apply, got {error!r}"
                assert change.from_status == self.status and change.to_status == to
                assert change.seq == self.version + 1
                self.status = to
                self.version += 1
                if replace_run:
                    if self.current_run is not None:
                        self.old_runs.append(self.current_run)
                    self.current_run = new_run
            else:
                assert type(error) is want, f"expected {want.__name__}, got {error!r}"
                if isinstance(error, InvalidTransition):
                    assert error.found == self.status.value
                    assert error.collection_id == self.collection_id

        @rule()
        def request(self) -> None:
            error: StateError | None = None
            with write_tx(engine) as conn:
                try:
                    run_id = request_processing(
                        conn, self.collection_id, options={}, actor="machine"
                    )
                except StateError as e:
                    error = e
            if self.status in (CollectionStatus.QUEUED, CollectionStatus.PROCESSING):
                assert isinstance(error, AlreadyProcessing), repr(error)
                return
            assert error is None, repr(error)
            self.status = CollectionStatus.QUEUED
            self.version += 1
            if self.current_run is not None:
                self.old_runs.append(self.current_run)
            self.current_run = run_id

        @invariant()
        def history_and_outbox_agree(self) -> None:
            if not hasattr(self, "collection_id"):
                return
            history = invariant_h_and_o(engine, self.collection_id)
            c = collections_t.c
            with read_tx(engine) as conn:
                row = conn.execute(
                    select(c.status, c.version, c.last_seq, c.current_run_id).where(
                        c.id == self.collection_id
                    )
                ).one()
                run_ids = set(
                    conn.execute(
                        select(runs_t.c.id).where(runs_t.c.collection_id == self.collection_id)
                    ).scalars()
                )
            assert row.status == self.status.value
            assert row.version == self.version == len(history)
            assert row.current_run_id == self.current_run
            # Only request_processing creates runs: every run row is one we were handed.
            assert run_ids <= {*self.old_runs, self.current_run}

    return StatusMachine


def test_status_history_and_outbox_after_any_sequence(engine: Engine) -> None:
    run_state_machine_as_test(build_machine(engine), settings=SETTINGS)
