"""The structure the architecture promises: one statement layer per database, layers that
point one way (``docs/architecture.md``, "Layers")."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fileintel"
#: A branch on the database's kind: only a backend may know which database it talks to.
DIALECT_TEST = re.compile(r"dialect\.name|dialect_name|\.name\s*==\s*[\"'](postgresql|sqlite)")
#: Migrations are per-revision DDL snapshots, allowed to say which database they alter.
EXEMPT = ("backends", "migrations")


def dialect_branches(package: Path = PACKAGE) -> list[str]:
    """``file:line`` of every dialect test outside the backends."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if any(part in EXEMPT for part in path.relative_to(package).parts):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if DIALECT_TEST.search(line):
                found.append(f"{path.relative_to(package)}:{number}: {line.strip()}")
    return found


def test_no_dialect_branch_outside_the_backends() -> None:
    assert dialect_branches() == [], "dialect branches outside fileintel/backends"


def test_the_dialect_check_finds_a_branch(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "x.py").write_text('if conn.dialect.name == "postgresql":\n    pass\n')
    (tmp_path / "backends").mkdir()
    (tmp_path / "backends" / "y.py").write_text('if conn.dialect.name == "sqlite":\n    pass\n')
    assert len(dialect_branches(tmp_path)) == 1


def test_import_layers_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports (import-linter) is not installed: pip install -e '.[test]'")
    run = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
