"""A corrupted page in the SQLite file and ``ingest --force``: a database error that repeats
is not a document's failure. One line and an exit instead of thousands of tracebacks and
documents re-dispatched for ever; ``doctor`` reports the database as damaged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.processes import cli_env, run_cli


def _corrupt_table_root(db: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage (after a checkpoint, so the WAL
    holds no newer copy of it)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with db.open("r+b") as fh:
        fh.seek((root[0] - 1) * page_size)
        fh.write(b"\xde\xad\xbe\xef" * (page_size // 4))


def test_a_damaged_database_stops_ingest_in_one_line_and_doctor_names_it(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"d{i}.txt").write_text(f"document {i} about rivers, stones and clouds " * 40)
    db = tmp_path / "fileintel.db"
    env = cli_env(f"sqlite:///{db}")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    first = run_cli(["ingest", str(docs), "--collection", "c"], env, timeout=120)
    assert first.returncode == 0, first.stderr
    _corrupt_table_root(db, "chunks")

    forced = run_cli(["ingest", str(docs), "--collection", "c", "--force"], env, timeout=120)
    assert forced.returncode == 1, (forced.stdout, forced.stderr)
    assert "Traceback" not in forced.stderr
    lines = forced.stderr.strip().splitlines()
    assert len(lines) <= 3, forced.stderr
    assert lines[-1].startswith("error: the database is damaged"), lines

    doctor = run_cli(["doctor", "--json"], env)
    assert doctor.returncode != 0
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert checks["database"]["level"] == "FAIL"
    assert "is damaged: " in checks["database"]["message"]
    assert "restore it from a backup" in checks["database"]["message"]
    assert "\n" not in checks["database"]["message"]
