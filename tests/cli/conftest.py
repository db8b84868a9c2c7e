"""Fixtures of the CLI tests: the real entry point on the test database, a small file tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fileintel.cli import main
from tests.cli.support import Result


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """``cli("collections", "list")`` runs the real entry point on the test database."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(["--database-url", db_url, *args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A small tree: two top-level files, a nested directory, hidden files and a duplicate."""
    root = tmp_path / "docs"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.txt").write_text("alpha")
    (root / "b.md").write_text("# beta")
    (root / "sub" / "c.txt").write_text("gamma")
    (root / "sub" / "deeper" / "d.html").write_text("<p>delta</p>")
    (root / "sub" / "copy-of-a.txt").write_text("alpha")
    (root / ".hidden.txt").write_text("hidden")
    (root / "sub" / ".DS_Store").write_bytes(b"\0\1")
    (root / ".git" / "config").write_text("[core]")
    return root
