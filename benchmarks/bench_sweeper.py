"""Sweeper pass time on a large PostgreSQL database, and the plans of its queries.

    .venv/bin/python -m benchmarks.bench_sweeper [--collections 100000] [--documents 10]
        [--stuck-percent 1] [--open-percent 100] [--passes 7] [--plans FILE] [--keep]

The benchmark creates its own PostgreSQL database (``benchmarks.scratch``), migrates it, and
fills it with ``INSERT ... SELECT generate_series`` (no Python loop): ``--collections``
collections with ``--documents`` documents each and every collection's history rows.
``--open-percent`` of the collections are ``processing`` with a ``processing`` current run
whose documents are all ``done`` but the last one, which is ``processing`` under a live
lease (so no run looks finished; live leases end an hour ahead, so the time spent filling
cannot expire them); the other collections are ``completed``. For ``--stuck-percent`` of all
collections (every k-th, always an open one) the in-flight document's lease expired two
minutes ago: its worker is gone.

It then measures, with the sweeper's real code (``Sweeper.run_once``, default settings):

(b) the pass that recovers the stuck documents (one re-dispatch each; without the audit);
(a) passes that find nothing (right after that recovery), ``--passes`` times, by one
    ``Sweeper`` as the scheduler runs it: its first pass audits collection/run agreement,
    the next ones, within ``AUDIT_INTERVAL_SECONDS``, do not. Target: the median of the
    passes without the audit under 200 ms;
(c) the same empty pass with the audit forced (``audit=True``), ``--passes`` times: the
    audit's cost is the difference of the medians, once per audit interval.

and prints ``EXPLAIN (ANALYZE, BUFFERS)`` of each of the sweeper's queries exactly as it
sends them (``fileintel.store.recovery``: ``expired_leases``, ``unsent_dispatch``,
``unclaimed_dispatches``; ``fileintel.store.run_recovery``: ``runs_needing_attention``, and
the audit's ``runs_disagreeing``), once while the stuck rows are there and once on the empty
pass, naming every sequential scan over a large table. Last it states the stuck-detection
latency the default settings give beside the 75 minutes of the design FileIntel replaced.
The database is dropped at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, select, text

from benchmarks.scratch import create_database, drop_database

DEFAULT_COLLECTIONS = 100_000
DEFAULT_DOCUMENTS = 10
DEFAULT_STUCK_PERCENT = 1.0
DEFAULT_PASSES = 7
TARGET_EMPTY_PASS_MS = 200.0
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
#: Stuck detection of the design FileIntel replaced: "processing for more than an hour",
#: checked by a job every 15 minutes.
OLD_THRESHOLD_SECONDS = 3600.0
OLD_CHECK_EVERY_SECONDS = 900.0


# --- the database -------------------------------------------------------------------------


@contextmanager
def bench_database(keep: bool) -> Iterator[str]:
    """A fresh database of this benchmark's own, migrated to head; dropped afterwards."""
    from fileintel.db import dispose_engines

    name = f"fileintel_bench_sweeper_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        yield url
    finally:
        dispose_engines()
        if keep:
            print(f"kept database {name}")
        else:
            drop_database(name)


#: A collection is open (processing) when ``i % 100 < :open_pct``; the others are completed.
POPULATE = [
    # Collections: open ones processing, the rest completed; counters as the documents.
    """
    INSERT INTO collections (id, name, description, status, status_updated_at, status_message,
        previous_status, version, last_seq, current_run_id, documents_total, documents_pending,
        documents_processing, documents_done, documents_failed, documents_skipped,
        chunks_total, chunks_embedded, created_at)
    SELECT md5('c' || i)::uuid::text, 'bench-' || i, NULL,
        CASE WHEN open THEN 'processing' ELSE 'completed' END,
        now() - interval '50 minutes', NULL, CASE WHEN open THEN 'queued' ELSE 'processing' END,
        CASE WHEN open THEN 3 ELSE 4 END, CASE WHEN open THEN 3 ELSE 4 END,
        md5('r' || i)::uuid::text, :docs, 0, CASE WHEN open THEN 1 ELSE 0 END,
        CASE WHEN open THEN :docs - 1 ELSE :docs END, 0, 0, :docs * 5, :docs * 5,
        now() - interval '1 hour'
    FROM (SELECT i, i % 100 < :open_pct AS open FROM generate_series(1, :collections) AS i) AS s
    """,
    # Their current runs: open ones processing, heartbeating, far from the deadline.
    """
    INSERT INTO runs (id, collection_id, attempt, kind, status, options, requested_at,
        started_at, finished_at, heartbeat_at, deadline_at, error, documents_total,
        documents_pending, documents_processing, documents_done, documents_failed,
        documents_skipped)
    SELECT md5('r' || i)::uuid::text, md5('c' || i)::uuid::text, 1, 'process',
        CASE WHEN open THEN 'processing' ELSE 'completed' END,
        '{}', now() - interval '51 minutes', now() - interval '50 minutes',
        CASE WHEN open THEN NULL ELSE now() - interval '40 minutes' END,
        now() - interval '5 seconds', now() + interval '5 hours', NULL,
        :docs, 0, CASE WHEN open THEN 1 ELSE 0 END,
        CASE WHEN open THEN :docs - 1 ELSE :docs END, 0, 0
    FROM (SELECT i, i % 100 < :open_pct AS open FROM generate_series(1, :collections) AS i) AS s
    """,
    # History: created → queued → processing (→ completed), seq 1..3 (4).
    """
    INSERT INTO status_events (collection_id, seq, run_id, from_status, to_status, message,
        actor, event_id, at)
    SELECT md5('c' || i)::uuid::text, e.seq, CASE WHEN e.seq > 1 THEN md5('r' || i)::uuid::text END,
        e.from_status, e.to_status, e.to_status, 'bench', md5('e' || i || '-' || e.seq)::uuid::text,
        now() - interval '1 hour' + e.seq * interval '1 minute'
    FROM (SELECT i, i % 100 < :open_pct AS open FROM generate_series(1, :collections) AS i) AS s,
        (VALUES (1, NULL, 'created'), (2, 'created', 'queued'), (3, 'queued', 'processing'),
                (4, 'processing', 'completed')) AS e(seq, from_status, to_status)
    WHERE e.seq <= CASE WHEN open THEN 3 ELSE 4 END
    """,
    # Documents: all done but, in open collections, the last one, which is in flight; for
    # the stuck collections (every k-th) its lease ended two minutes ago. Live leases end an
    # hour from now, so that the minutes this script takes to fill cannot expire them. No
    # document is pending, so none has a dispatch time (a claim clears it).
    """
    INSERT INTO documents (collection_id, path, size, sha256, media_type, state, run_id,
        attempt, lost_leases, dispatched_at, lease_expires_at, error, chunk_count,
        embedded_count, metadata, processed_sha256, processed_options, added_at, finished_at)
    SELECT md5('c' || c)::uuid::text, '/data/bench-' || c || '/doc-' || j || '.txt', 4096,
        md5(g::text) || md5('x' || g), 'text/plain',
        CASE WHEN flying THEN 'processing' ELSE 'done' END,
        md5('r' || c)::uuid::text, 1, 0, NULL,
        CASE WHEN NOT flying THEN NULL
             WHEN c % :stuck_every = 0 THEN now() - interval '2 minutes'
             ELSE now() + interval '1 hour' END,
        NULL, CASE WHEN flying THEN 0 ELSE 5 END, CASE WHEN flying THEN 0 ELSE 5 END, NULL,
        CASE WHEN flying THEN NULL ELSE md5(g::text) || md5('x' || g) END,
        CASE WHEN flying THEN NULL ELSE 'bench' END, now() - interval '1 hour',
        CASE WHEN flying THEN NULL ELSE now() - interval '30 minutes' END
    FROM (
        SELECT g, c, j, j = :docs - 1 AND c % 100 < :open_pct AS flying
        FROM (SELECT g, g / :docs + 1 AS c, g % :docs AS j
              FROM generate_series(0, :collections * :docs - 1) AS g) AS n
    ) AS d
    """,
]


def populate(
    engine: Engine, collections: int, documents: int, stuck_every: int, open_percent: int
) -> None:
    """Fill the database (one transaction), then VACUUM ANALYZE so plans see the real sizes."""
    params = {
        "collections": collections,
        "docs": documents,
        "stuck_every": stuck_every,
        "open_pct": open_percent,
    }
    with engine.begin() as conn:
        for statement in POPULATE:
            conn.execute(text(statement), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def table_sizes(engine: Engine) -> dict[str, int]:
    """Row counts of the tables the sweeper reads."""
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("collections", "runs", "documents", "status_events")
        }


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
    from fileintel.store import recovery, run_recovery
    from fileintel.sweeper import DEFAULT_BATCH_SIZE

    settings = Settings(database_url=str(engine.url))
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _m: Any) -> None:
        captured.append((statement, parameters))

    with read_tx(engine) as conn:
        now = conn.execute(select(db_now())).scalar_one()
    before = now - dt.timedelta(seconds=settings.dispatch_timeout_seconds)
    calls: dict[str, Callable[[Any], Any]] = {
        "expired_leases": lambda c: recovery.expired_leases(c, now, 0, DEFAULT_BATCH_SIZE),
        "unsent_dispatch": lambda c: recovery.unsent_dispatch(c, now, before),
        "unclaimed_dispatches": lambda c: recovery.unclaimed_dispatches(
            c, before, 0, DEFAULT_BATCH_SIZE
        ),
        "runs_needing_attention": lambda c: run_recovery.runs_needing_attention(c, now, before),
        AUDIT_QUERY: run_recovery.runs_disagreeing,
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


# --- sweep passes -------------------------------------------------------------------------


def new_sweeper(engine: Engine) -> Any:
    """A ``Sweeper`` with the default settings, as ``fileintel scheduler`` builds it."""
    from fileintel.config import Settings
    from fileintel.sweeper import Sweeper

    return Sweeper(Settings(database_url=str(engine.url)), engine)


def timed_pass(sweeper: Any, audit: bool | None = None) -> tuple[float, Any]:
    """One ``run_once``; (seconds, SweepResult)."""
    started = time.perf_counter()
    result = sweeper.run_once(audit=audit)
    return time.perf_counter() - started, result


def summary(seconds: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max) in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    return statistics.median(ms), ms[0], ms[-1]


def detection_latency() -> dict[str, float]:
    """Worst-case seconds from a worker's death to the sweeper's decision (defaults)."""
    from fileintel.config import (
        DEFAULT_HEARTBEAT_SECONDS,
        DEFAULT_LEASE_SECONDS,
        DEFAULT_RELAY_POLL_SECONDS,
        DEFAULT_SWEEP_INTERVAL_SECONDS,
    )

    return {
        "lease": DEFAULT_LEASE_SECONDS,
        "heartbeat": DEFAULT_HEARTBEAT_SECONDS,
        "sweep_interval": DEFAULT_SWEEP_INTERVAL_SECONDS,
        "relay_poll": DEFAULT_RELAY_POLL_SECONDS,
        # The last renewal can come just before the death: the lease then runs its full
        # length; the next sweep starts at most one interval after it ran out.
        "worst_detection": DEFAULT_LEASE_SECONDS + DEFAULT_SWEEP_INTERVAL_SECONDS,
        # A renewal is at most one heartbeat old at the death: the lease ends at least
        # lease - heartbeat later; a sweep may run right then.
        "best_detection": DEFAULT_LEASE_SECONDS - DEFAULT_HEARTBEAT_SECONDS,
        "old_worst_detection": OLD_THRESHOLD_SECONDS + OLD_CHECK_EVERY_SECONDS,
    }


# --- report -------------------------------------------------------------------------------


def print_plans(title: str, plans: Sequence[Plan]) -> None:
    """The plans of one phase, with the verdict on sequential scans."""
    print(f"\n## {title}")
    for p in plans:
        verdict = f"SEQ SCAN on {', '.join(p.seq_scans)}" if p.seq_scans else "index only"
        kind = "audit" if p.name == AUDIT_QUERY else "every pass"
        print(f"\n### {p.name} ({kind}): {p.execution_ms:.2f} ms ({verdict})\n")
        print(p.plan)


def write_plans(path: Path, phases: list[tuple[str, list[Plan]]]) -> None:
    """The plans as markdown (for docs/performance.md)."""
    lines = []
    for title, plans in phases:
        lines.append(f"#### {title}\n")
        for p in plans:
            lines.append(f"`{p.name}` ({p.execution_ms:.2f} ms):\n")
            lines.append("```sql\n" + p.sql.strip() + "\n```\n")
            lines.append("```\n" + p.plan + "\n```\n")
    path.write_text("\n".join(lines))


def measure(engine: Engine, passes: int, stuck: int) -> bool:
    """The recovery pass, then the empty passes with and without the audit; True when the
    empty pass meets its target."""
    recover_s, recovered = timed_pass(new_sweeper(engine), audit=False)
    print(
        f"\n(b) recovery pass (no audit): {recover_s * 1000:.0f} ms, decisions "
        f"{dict(recovered.decisions)} ({stuck:,} stuck collections expected; "
        f"{recover_s * 1000 / max(1, recovered.acted):.2f} ms per decision)"
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))

    sweeper = new_sweeper(engine)  # as the scheduler holds it: the first pass audits
    first_s, first = timed_pass(sweeper)
    empty = [timed_pass(sweeper) for _ in range(passes)]
    audited = [timed_pass(sweeper, audit=True) for _ in range(passes)]
    for _, r in [(first_s, first), *empty, *audited]:
        assert r.acted == 0 and r.found == 0 and r.held is None, (dict(r.decisions), r.held)
    assert first.audited and not any(r.audited for _, r in empty), "audit cadence"

    median, low, high = summary([s for s, _ in empty])
    met = median < TARGET_EMPTY_PASS_MS
    print(
        f"(a) empty pass, {passes} passes without the audit (as the scheduler runs them "
        f"between audits): median {median:.1f} ms, min {low:.1f} ms, max {high:.1f} ms; "
        f"target < {TARGET_EMPTY_PASS_MS:.0f} ms: {'met' if met else 'NOT met'}"
    )
    with_audit, low_a, high_a = summary([s for s, _ in audited])
    print(
        f"(c) empty pass with the audit, {passes} passes: median {with_audit:.1f} ms, "
        f"min {low_a:.1f} ms, max {high_a:.1f} ms; the audit adds {with_audit - median:.1f} ms "
        f"once per audit interval (a new sweeper's first pass: {first_s * 1000:.1f} ms)"
    )
    return met


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 when the empty pass meets its target."""
    parser = argparse.ArgumentParser(prog="bench_sweeper", description=__doc__.split("\n")[0])
    parser.add_argument("--collections", type=int, default=DEFAULT_COLLECTIONS)
    parser.add_argument("--documents", type=int, default=DEFAULT_DOCUMENTS, help="per collection")
    parser.add_argument("--stuck-percent", type=float, default=DEFAULT_STUCK_PERCENT)
    parser.add_argument(
        "--open-percent",
        type=int,
        default=100,
        help="collections processing (the others completed); at least --stuck-percent",
    )
    parser.add_argument("--passes", type=int, default=DEFAULT_PASSES)
    parser.add_argument("--plans", type=Path, default=None, help="write the plans here (md)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    stuck_every = max(1, round(100 / args.stuck_percent))
    if not args.stuck_percent <= args.open_percent <= 100:
        parser.error("--open-percent must be between --stuck-percent and 100")

    from fileintel.db import make_engine

    with bench_database(args.keep) as url:
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            populate(engine, args.collections, args.documents, stuck_every, args.open_percent)
            sizes = table_sizes(engine)
            print(
                f"populated in {time.perf_counter() - started:.1f} s: "
                + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
            )
            before = explain_all(engine)
            met = measure(engine, args.passes, args.collections // stuck_every)
            after = explain_all(engine)
            print_plans("plans with the stuck documents present", before)
            print_plans("plans of the empty pass", after)
            for title, plans in (("every pass", PASS_QUERIES), ("the audit", (AUDIT_QUERY,))):
                scans = sorted(
                    {
                        f"{p.name}: {t}"
                        for p in before + after
                        if p.name in plans
                        for t in p.seq_scans
                    }
                )
                print(
                    f"\nsequential scans over large tables, {title}: "
                    + (", ".join(scans) or "none")
                )
            empty_ms = sum(p.execution_ms for p in after if p.name in PASS_QUERIES)
            print(f"empty pass, the four queries' execution time together: {empty_ms:.2f} ms")

            latency = detection_latency()
            print(
                f"\nstuck detection after SIGKILL, defaults (lease {latency['lease']:.0f} s, "
                f"heartbeat {latency['heartbeat']:.0f} s, sweep every "
                f"{latency['sweep_interval']:.0f} s): {latency['best_detection']:.0f}–"
                f"{latency['worst_detection']:.0f} s; the replaced design: up to "
                f"{latency['old_worst_detection'] / 60:.0f} min"
            )
            if args.plans is not None:
                write_plans(
                    args.plans,
                    [
                        ("With 1% stuck (before the recovery pass)", before),
                        ("The empty pass", after),
                    ],
                )
                print(f"plans written to {args.plans}")
        finally:
            engine.dispose()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
