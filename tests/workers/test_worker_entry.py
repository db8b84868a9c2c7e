"""What a Dramatiq worker process sets up when it loads ``fileintel.workers.entry``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import clean_env

PYTHON_DEFAULT_SWITCH_INTERVAL = 0.005


def test_a_worker_process_uses_the_longer_thread_switch_interval(tmp_path: Path) -> None:
    env = clean_env(
        {
            "FILEINTEL_DATABASE_URL": f"sqlite:///{tmp_path / 'entry.db'}",
            "FILEINTEL_BROKER_URL": "stub://",
        }
    )
    probe = (
        "import sys, fileintel.workers.entry as entry; "
        "print(sys.getswitchinterval(), entry.SWITCH_INTERVAL_SECONDS)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    in_force, configured = (float(v) for v in out.stdout.split()[-2:])
    assert configured > PYTHON_DEFAULT_SWITCH_INTERVAL
    assert in_force == pytest.approx(configured)  # kept in microseconds
    assert sys.getswitchinterval() == PYTHON_DEFAULT_SWITCH_INTERVAL  # this process: untouched
