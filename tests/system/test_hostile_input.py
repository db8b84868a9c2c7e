"""``fileintel ingest`` as a hostile tester runs it, as a subprocess on the embedded
defaults: folders holding things that used to hang it, and files that vanish."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fileintel.db import make_engine
from tests.helpers import invariant_h_and_o
from tests.processes import cli_env, run_cli, run_cli_json


def test_ingest_skips_what_would_hang_and_sync_removes_what_is_gone(
    sqlite_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "kept.txt").write_text("rivers and boats and a quiet harbour")
    (root / "vanishing.txt").write_text("deserts, sand and a very dry wind")
    os.mkfifo(root / "pipe")
    (root / "zero").symlink_to("/dev/zero")
    env = cli_env(sqlite_url)

    first = run_cli(["ingest", str(root), "--collection", "c", "--json"], env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["documents"]["done"] == 2
    assert f"skipped: {root / 'pipe'}: not a regular file (FIFO)" in first.stderr
    assert f"skipped: {root / 'zero'}: not a regular file (device)" in first.stderr
    assert "Traceback" not in first.stderr

    (root / "vanishing.txt").unlink()
    (root / "late.txt").write_text("forests of oak and beech")
    synced = run_cli(["ingest", str(root), "--collection", "c", "--sync"], env, timeout=120)
    assert synced.returncode == 0, synced.stderr
    assert "1 added" in synced.stdout and "1 removed (gone from disk)" in synced.stdout
    status = run_cli_json(["collections", "status", "c"], env)
    assert status["status"] == "completed" and status["warnings"] == []
    assert status["documents"]["total"] == 2 and status["chunks"] == 2
    hits = run_cli_json(["search", "c", "deserts sand dry wind"], env)
    assert all("vanishing" not in h["path"] for h in hits)
    history = run_cli_json(["collections", "history", "c"], env)
    removal = [h for h in history if h["from"] == h["to"]]
    assert len(removal) == 1 and "vanishing.txt" in removal[0]["message"]
    invariant_h_and_o(make_engine(sqlite_url), status["id"])
