"""The sweeper's per-pass queries can be answered from their partial indexes (PostgreSQL).

Each query is captured as the sweeper sends it and planned with sequential scans disabled:
a query whose ``WHERE`` no longer implies an index's predicate (a reworded status test, a
dropped index) still gets a sequential scan then, and this fails. The timings at scale are
``benchmarks/sweeper/bench.py``'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from fileintel.db import db_now, make_engine, read_tx
from fileintel.sweeper import outbox_backlog, runs
from tests.helpers import on_statements

TIMEOUT = dt.timedelta(seconds=120)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on the session's PostgreSQL database."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def plan_of(engine: Engine, query: Callable[[Connection, dt.datetime], Any]) -> str:
    """EXPLAIN of the one SELECT ``query`` sends, with sequential scans disabled."""
    sent: list[tuple[str, Any]] = []

    with read_tx(engine) as conn:
        now = conn.execute(select(db_now())).scalar_one()
        with on_statements(engine, lambda _cur, st, params: sent.append((st, params))):
            query(conn, now)
    [(statement, parameters)] = sent
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return plan


def test_the_run_rules_read_three_partial_indexes_with_a_bitmap_or(pg_engine: Engine) -> None:
    plan = plan_of(
        pg_engine, lambda conn, now: runs.runs_needing_attention(conn, now, now - TIMEOUT)
    )
    assert "BitmapOr" in plan, plan
    for index in ("ix_runs_open_deadline", "ix_runs_queued_heartbeat", "ix_runs_finished_open"):
        assert f"Bitmap Index Scan on {index}" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_with_the_start_rule_held_the_other_two_still_use_their_indexes(
    pg_engine: Engine,
) -> None:
    plan = plan_of(pg_engine, lambda conn, now: runs.runs_needing_attention(conn, now, None))
    assert "ix_runs_queued_heartbeat" not in plan, plan
    assert "Bitmap Index Scan on ix_runs_open_deadline" in plan, plan
    assert "Bitmap Index Scan on ix_runs_finished_open" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_outbox_check_reads_the_unpublished_rows_only(pg_engine: Engine) -> None:
    plan = plan_of(
        pg_engine, lambda conn, now: outbox_backlog.unsent_dispatch(conn, now, now - TIMEOUT)
    )
    assert "ix_outbox_unpublished" in plan, plan
    assert "Seq Scan" not in plan, plan
