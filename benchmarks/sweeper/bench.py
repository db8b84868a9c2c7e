"""Sweeper pass time on a large PostgreSQL database, and the plans of its queries.

    .venv/bin/python -m benchmarks.sweeper [--collections 100000] [--documents 10]
        [--stuck-percent 1] [--open-percent 100] [--passes 7] [--plans FILE] [--keep]

The benchmark creates its own PostgreSQL database (``benchmarks.common.databases``),
migrates it, and fills it with ``INSERT ... SELECT generate_series`` (no Python loop):
``--collections`` collections with ``--documents`` documents each and every collection's
history rows.
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
sends them (``expired_leases``, ``outbox_backlog.unsent_dispatch``,
``lost_dispatches.unclaimed_dispatches``, ``runs.runs_needing_attention``, and
``audit.runs_disagreeing``, all in ``fileintel.sweeper``), once while the stuck rows are
there and once on the empty pass, naming every sequential scan over a large table. Last it
states the stuck-detection latency the default settings give beside the 75 minutes of the
design FileIntel replaced. The database is dropped at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common.databases import scratch_database
from benchmarks.sweeper.database import populate, table_sizes
from benchmarks.sweeper.passes import measure
from benchmarks.sweeper.plans import AUDIT_QUERY, PASS_QUERIES, Plan, explain_all

DEFAULT_COLLECTIONS = 100_000
DEFAULT_DOCUMENTS = 10
DEFAULT_STUCK_PERCENT = 1.0
DEFAULT_PASSES = 7
#: Stuck detection of the design FileIntel replaced: "processing for more than an hour",
#: checked by a job every 15 minutes.
OLD_THRESHOLD_SECONDS = 3600.0
OLD_CHECK_EVERY_SECONDS = 900.0


# --- report -------------------------------------------------------------------------------


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 when the empty pass meets its target."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweeper", description=__doc__.split("\n")[0]
    )
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

    name = f"fileintel_bench_sweeper_{uuid.uuid4().hex[:8]}"
    with scratch_database(name, args.keep) as url:
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
