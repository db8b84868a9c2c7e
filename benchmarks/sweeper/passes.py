"""The sweeper benchmark's measured operations: ``Sweeper.run_once`` passes, timed, and the
three phases built from them (the recovery pass, empty passes without and with the audit).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, text

from benchmarks.common.report import verdict

TARGET_EMPTY_PASS_MS = 200.0


# --- sweep passes -------------------------------------------------------------------------


def new_sweeper(engine: Engine) -> Any:
    """A ``Sweeper`` with the default settings, as ``fileintel scheduler`` builds it."""
    from fileintel.config import Settings
    from fileintel.sweeper.sweep import Sweeper

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
        f"target < {TARGET_EMPTY_PASS_MS:.0f} ms: {verdict(met)}"
    )
    with_audit, low_a, high_a = summary([s for s, _ in audited])
    print(
        f"(c) empty pass with the audit, {passes} passes: median {with_audit:.1f} ms, "
        f"min {low_a:.1f} ms, max {high_a:.1f} ms; the audit adds {with_audit - median:.1f} ms "
        f"once per audit interval (a new sweeper's first pass: {first_s * 1000:.1f} ms)"
    )
    return met
