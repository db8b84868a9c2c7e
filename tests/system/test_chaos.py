"""The chaos suite's short run, and its cleanup: ``python -m chaos`` as a user runs it.

- A short run (about two minutes of faults, every kind at least once, 30 collections on two
  hosts) passes: exit 0, every invariant ``ok``, and nothing of it left on the machine.
- A run stopped by SIGTERM while it is up removes its namespaces, links, servers and folder.
- What a SIGKILLed run left behind is removed by the next run's start-up.

These need root (network namespaces), ``ip``/``tc``, ``initdb`` and ``redis-server``; they skip
with the reason elsewhere, and fail instead under ``FILEINTEL_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.cleanup import remove_leftovers
from chaos.faults import KINDS
from chaos.naming import PREFIX, alive
from chaos.runner import missing_prerequisite
from tests.helpers import wait_for
from tests.services import REQUIRE_SERVICES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def need_namespaces() -> None:
    reason = missing_prerequisite()
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"FILEINTEL_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def start_chaos(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "chaos", *args],
            cwd=log.parent,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def traces_of(pid: int) -> list[str]:
    """Namespaces, links and folders that carry ``pid``'s name."""
    found = [
        line
        for line in subprocess.run(
            ["ip", "-o", "link", "show"], capture_output=True, text=True
        ).stdout.splitlines()
        if f"fic{pid}" in line
    ]
    found += [
        line
        for line in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True
        ).stdout.splitlines()
        if f"{PREFIX}-{pid}-" in line
    ]
    folder = Path(f"/tmp/{PREFIX}-{pid}")
    return found + ([str(folder)] if folder.exists() else [])


@pytest.mark.timeout(900)
def test_a_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    need_namespaces()
    log = tmp_path / "chaos.out"
    run = start_chaos(["--seed", "7", "--seconds", "110", "--collections", "30"], log)
    code = run.wait(840)
    out = log.read_text()
    assert code == 0, out
    for name in "LHOFI":
        assert any(line.split()[:2] == [name, "ok"] for line in out.splitlines()), out
    assert "passed: seed 7, 0 violations" in out
    faults = out.split("\nfaults (seconds from the start):\n", 1)[1].split("\n\n", 1)[0]
    kinds = {line.split()[2] for line in faults.splitlines()[1:]}
    assert kinds == set(KINDS), faults  # every kind at least once, however slow the machine
    assert traces_of(run.pid) == []


def test_a_terminated_run_removes_everything_it_made(tmp_path: Path) -> None:
    need_namespaces()
    log = tmp_path / "chaos.out"
    run = start_chaos(["--seconds", "600", "--collections", "4"], log)
    wait_for(lambda: "processes up" in log.read_text(), timeout=120, what="the run to be up")
    assert traces_of(run.pid), "the run should have made namespaces, links and a folder"
    run.send_signal(signal.SIGTERM)
    assert run.wait(120) == 128 + signal.SIGTERM
    assert traces_of(run.pid) == []


def test_what_a_killed_run_left_is_removed_by_the_next(tmp_path: Path) -> None:
    need_namespaces()
    log = tmp_path / "chaos.out"
    run = start_chaos(["--seconds", "600", "--collections", "4"], log)
    wait_for(lambda: "processes up" in log.read_text(), timeout=120, what="the run to be up")
    pids = [int(p) for p in (Path(f"/tmp/{PREFIX}-{run.pid}") / "pids").read_text().split()]
    run.kill()
    run.wait(30)
    assert traces_of(run.pid), "SIGKILL leaves its resources behind"
    removed = remove_leftovers()
    assert any(f"{PREFIX}-{run.pid}" in r for r in removed), removed
    assert traces_of(run.pid) == []
    wait_for(lambda: not any(alive(p) for p in pids), timeout=30, what="its processes to die")
