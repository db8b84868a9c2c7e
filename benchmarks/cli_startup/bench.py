"""How fast the ``fileintel`` command answers in a fresh process.

``python -m benchmarks.cli_startup [--runs N]``

Two pairs of commands, each timed ``N`` times (default 20) in fresh processes, the two
members of a pair alternating so that both see the same machine:

- ``python -c "import click"`` against ``fileintel --help``;
- ``python -c "import sqlalchemy"`` against ``fileintel collections status NAME --json`` on a
  migrated SQLite file with one collection, made in a temporary directory.

Target: each ``fileintel`` median at most 2x the median of its import (the floor any click
or SQLAlchemy program pays). Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

TARGET_RATIO = 2.0
DEFAULT_RUNS = 20
COLLECTION = "bench"


def fileintel_command() -> list[str]:
    """The installed ``fileintel`` console script beside this interpreter, as users run it."""
    script = Path(sys.executable).with_name("fileintel")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "fileintel.cli"]


def run_seconds(args: Sequence[str], env: dict[str, str]) -> float:
    """Wall time of one run of ``args`` to its exit; raises when it fails."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def compare(
    baseline: Sequence[str], command: Sequence[str], env: dict[str, str], runs: int
) -> tuple[float, float]:
    """Medians (seconds) of ``baseline`` and ``command``, run alternately ``runs`` times each.

    One untimed run of each first, so that neither pays for a cold file cache.
    """
    run_seconds(baseline, env)
    run_seconds(command, env)
    base_times: list[float] = []
    command_times: list[float] = []
    for _ in range(runs):
        base_times.append(run_seconds(baseline, env))
        command_times.append(run_seconds(command, env))
    return statistics.median(base_times), statistics.median(command_times)


def make_database(env: dict[str, str]) -> None:
    """A migrated SQLite file with one collection, through the CLI itself."""
    cli = fileintel_command()
    for args in (["db", "upgrade"], ["collections", "create", COLLECTION]):
        subprocess.run([*cli, *args], env=env, check=True, stdout=subprocess.DEVNULL)


def report(label: str, base_label: str, base: float, measured: float) -> bool:
    """Print one comparison; True when it meets the target."""
    ratio = measured / base
    ok = ratio <= TARGET_RATIO
    print(
        f"{label:<44} {measured * 1000:7.1f} ms   {base_label:<30} {base * 1000:7.1f} ms   "
        f"ratio {ratio:4.2f} (target <= {TARGET_RATIO:.1f}) {'ok' if ok else 'MISSED'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="Runs of each command.")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="fileintel-bench-cli-"))
    try:
        env = {
            **os.environ,
            "FILEINTEL_DATABASE_URL": f"sqlite:///{directory / 'fileintel.db'}",
            "FILEINTEL_BROKER_URL": "stub://",
        }
        env.pop("FILEINTEL_EVENTS_URL", None)
        make_database(env)
        cli = fileintel_command()
        python = sys.executable
        print(f"{args.runs} runs each, alternating; medians of wall time in a fresh process")
        click_base, help_time = compare(
            [python, "-c", "import click"], [*cli, "--help"], env, args.runs
        )
        sa_base, status_time = compare(
            [python, "-c", "import sqlalchemy"],
            [*cli, "collections", "status", COLLECTION, "--json"],
            env,
            args.runs,
        )
        ok = report("fileintel --help", "python -c 'import click'", click_base, help_time)
        ok &= report(
            "fileintel collections status NAME --json",
            "python -c 'import sqlalchemy'",
            sa_base,
            status_time,
        )
        return 0 if ok else 1
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
