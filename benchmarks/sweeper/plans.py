"""The sweeper's queries as it sends them (captured from a real pass) and their
``EXPLAIN (ANALYZE, BUFFERS)`` plans, with the sequential scans over large tables named.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, select

#: Tables whose sequential scan in a sweeper query would grow with the whole history.
LARGE_TABLES = ("documents", "collections", "runs", "status_events", "outbox", "chunks")
#: The queries of every pass; the audit's query runs once per audit interval.
PASS_QUERIES = (
    "expired_leases",
    "unsent_dispatch",
    "unclaimed_dispatches",
    "runs_needing_attention",
)
AUDIT_QUERY = "runs_disagreeing"


# --- the sweeper's queries and their plans ------------------------------------------------


@dataclass
class Plan:
    """One query of the sweeper with its EXPLAIN ANALYZE output."""

    name: str
    sql: str
    plan: str
    seq_scans: list[str] = field(default_factory=list)

    @property
    def execution_ms(self) -> float:
        """The 'Execution Time' line of the plan."""
        found = re.search(r"Execution Time: ([\d.]+) ms", self.plan)
        return float(found.group(1)) if found else float("nan")


def sweeper_queries(engine: Engine) -> list[tuple[str, str, Any]]:
    """Run each of the sweeper's queries as a pass would; capture (name, SQL, params)."""
    from fileintel.config import Settings
    from fileintel.db import db_now, read_tx
    from fileintel.sweeper import audit, expired_leases, lost_dispatches, outbox_backlog, runs
    from fileintel.sweeper.sweep import DEFAULT_BATCH_SIZE

    settings = Settings(database_url=str(engine.url))
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _m: Any) -> None:
        captured.append((statement, parameters))

    with read_tx(engine) as conn:
        now = conn.execute(select(db_now())).scalar_one()
    before = now - dt.timedelta(seconds=settings.dispatch_timeout_seconds)
    calls: dict[str, Callable[[Any], Any]] = {
        "expired_leases": lambda c: expired_leases.expired_leases(c, now, 0, DEFAULT_BATCH_SIZE),
        "unsent_dispatch": lambda c: outbox_backlog.unsent_dispatch(c, now, before),
        "unclaimed_dispatches": lambda c: lost_dispatches.unclaimed_dispatches(
            c, before, 0, DEFAULT_BATCH_SIZE
        ),
        "runs_needing_attention": lambda c: runs.runs_needing_attention(c, now, before),
        AUDIT_QUERY: audit.runs_disagreeing,
    }
    queries = []
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for name, call in calls.items():
            with read_tx(engine) as conn:
                captured.clear()
                call(conn)
                [(statement, parameters)] = [
                    (s, p) for s, p in captured if s.lstrip().upper().startswith("SELECT")
                ]
                queries.append((name, statement, parameters))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return queries


def explain(engine: Engine, name: str, statement: str, parameters: Any) -> Plan:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement (psycopg2 parameters), scans named.

    A sequential scan the executor never ran (``never executed``) is not counted.
    """
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        sql = cur.mogrify(statement, parameters).decode()
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        plan = "\n".join(row[0] for row in cur.fetchall())
        cur.close()
        raw.rollback()
    finally:
        raw.close()
    scans = sorted(
        {
            m.group(1)
            for m in re.finditer(r"Seq Scan on (\w+).*", plan)
            if m.group(1) in LARGE_TABLES and "never executed" not in m.group(0)
        }
    )
    return Plan(name, sql, plan, scans)


def explain_all(engine: Engine) -> list[Plan]:
    """The plan of each sweeper query, as the sweeper sends it now."""
    return [explain(engine, *query) for query in sweeper_queries(engine)]
