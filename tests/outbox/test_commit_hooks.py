"""``on_outbox_commit``: the in-process wake-up of the embedded relay, on both backends.

A hook runs after a ``write_tx`` that committed outbox rows, on that engine only; not for
a transaction without outbox rows, not for one that rolled back, not after it is removed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from fileintel.db import make_engine, on_outbox_commit, read_tx, write_tx
from fileintel.messaging import DOCUMENTS_QUEUE, PROCESS_DOCUMENT_ACTOR
from fileintel.models.tables import outbox_t
from fileintel.store.collections import create_collection
from fileintel.store.outbox_rows import add_dispatch


def dispatch(engine: Engine) -> None:
    """One transaction that writes a dispatch row."""
    with write_tx(engine) as conn:
        add_dispatch(
            conn, queue_name=DOCUMENTS_QUEUE, actor_name=PROCESS_DOCUMENT_ACTOR, args=["r", 1, 1]
        )


def test_a_commit_with_outbox_rows_runs_the_hook_once_after_it(engine: Engine, db_url: str) -> None:
    calls: list[str] = []
    remove = on_outbox_commit(engine, lambda: calls.append("woken"))
    try:
        dispatch(engine)
        assert calls == ["woken"]
        with write_tx(engine) as conn:  # a transition writes its event row: one call
            create_collection(conn, "hooked", actor="test")
        assert calls == ["woken", "woken"]
        other = make_engine(db_url)  # another engine (another pool) is not watched
        try:
            dispatch(other)
        finally:
            other.dispose()
        assert len(calls) == 2
    finally:
        remove()
    dispatch(engine)
    assert len(calls) == 2, "a removed hook is not called"


def test_no_hook_for_a_rollback_or_a_transaction_without_outbox_rows(engine: Engine) -> None:
    calls: list[str] = []
    remove = on_outbox_commit(engine, lambda: calls.append("woken"))
    try:
        with pytest.raises(RuntimeError), write_tx(engine) as conn:
            add_dispatch(conn, queue_name=DOCUMENTS_QUEUE, actor_name=PROCESS_DOCUMENT_ACTOR)
            raise RuntimeError("the caller fails after writing the row")
        with write_tx(engine) as conn:  # the same pooled connection: the mark did not linger
            conn.exec_driver_sql("SELECT 1")
        assert calls == []
    finally:
        remove()


def test_a_failing_hook_does_not_fail_the_committed_transaction(engine: Engine) -> None:
    def broken() -> None:
        raise RuntimeError("hook bug")

    remove = on_outbox_commit(engine, broken)
    try:
        dispatch(engine)  # the hook's error is logged, not raised
    finally:
        remove()
    with read_tx(engine) as conn:
        assert conn.execute(select(func.count()).select_from(outbox_t)).scalar_one() == 1
