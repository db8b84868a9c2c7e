"""The database's disk fills up during ``ingest`` (SQLite on a small tmpfs this test mounts):
one line naming the cause and an exit, the collection's warning says so, ``doctor`` and
``list --stuck`` agree, and the run finishes with nothing lost once space returns."""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fileintel.db import dispose_engines, make_engine
from tests.helpers import invariant_h_and_o
from tests.processes import cli_env, run_cli, run_cli_json

#: Leases and timeouts short enough that the recovery after the disk is freed takes seconds.
FAST = {
    "FILEINTEL_LEASE_SECONDS": "3",
    "FILEINTEL_HEARTBEAT_SECONDS": "1",
    "FILEINTEL_SWEEP_INTERVAL_SECONDS": "1",
    "FILEINTEL_DISPATCH_TIMEOUT_SECONDS": "3",
}
#: Free space left for the run: the registration fits, the chunks of 30 documents do not.
LEFT_FREE = 600 * 1024
DOCUMENTS = 30
WORDS = ("alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "harbour", "winter")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted afterwards whatever happens."""
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        dispose_engines()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _corpus(root: Path) -> Path:
    rng = random.Random(15)
    root.mkdir()
    for i in range(DOCUMENTS):
        text = " ".join(rng.choice(WORDS) for _ in range(3000))
        (root / f"d{i:02}.txt").write_text(text)
    return root


#: Worker processes of the ingest under test.
PROCESSES = 2


def _fill(mount: Path) -> Path:
    fs = os.statvfs(mount)
    filler = mount / "filler"
    filler.write_bytes(b"\0" * max(0, fs.f_bavail * fs.f_frsize - LEFT_FREE))
    return filler


def test_a_full_disk_stops_ingest_in_one_line_and_the_run_resumes_when_space_returns(
    small_fs: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{small_fs / 'fileintel.db'}"
    env = cli_env(url, extra=FAST)
    docs = _corpus(tmp_path / "docs")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    filler = _fill(small_fs)

    full = run_cli(
        ["ingest", str(docs), "--collection", "c", "--processes", str(PROCESSES)], env, timeout=120
    )
    assert full.returncode == 1, (full.stdout, full.stderr)
    assert "Traceback" not in full.stderr
    lines = full.stderr.strip().splitlines()
    # At most one line per cause from each process that meets it (each worker process, the
    # relay, the sweeper), then the error: no flood, no traceback.
    assert len(lines) <= PROCESSES + 2 + 1, full.stderr
    assert lines[-1].startswith("error: the database's disk is full"), lines
    assert "is kept and goes on" in lines[-1]

    status = run_cli_json(["collections", "status", "c"], env)
    assert status["status"] in ("queued", "processing")
    codes = [w["code"] for w in status["warnings"]]
    assert "database_disk_full" in codes, status["warnings"]
    stuck = run_cli_json(["collections", "list", "--stuck"], env)
    doctor = run_cli(["doctor", "--json"], env)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert checks["disk"]["level"] == "FAIL" and "disk is full" in checks["disk"]["message"]
    assert checks["stuck"]["message"].startswith(f"{len(stuck)} collection(s)"), checks["stuck"]
    assert [s["name"] for s in stuck] == ["c"]

    filler.unlink()
    again = run_cli(["ingest", str(docs), "--collection", "c", "--json"], env, timeout=180)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["status"] == "completed"
    assert summary["documents"]["done"] + summary["documents"]["skipped"] == DOCUMENTS
    assert summary["documents"]["failed"] == 0 and summary["warnings"] == []
    documents = run_cli_json(["collections", "documents", "c"], env)
    assert len(documents) == DOCUMENTS and all(d["chunks"] > 0 for d in documents)
    assert summary["chunks"] == sum(d["chunks"] for d in documents)
    engine = make_engine(url)
    try:
        invariant_h_and_o(engine, summary["id"])
    finally:
        engine.dispose()
