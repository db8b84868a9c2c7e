"""``collections create`` and ``collections add`` through the real entry point, on both
backends: names, files and directories, duplicates, and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from fileintel.db import read_tx, write_tx
from fileintel.errors import InputError
from fileintel.models.tables import collections_t
from fileintel.store.collections import create_collection
from tests.cli.support import count_documents
from tests.helpers import invariant_h_and_o, race_in_threads

# --- create and add -----------------------------------------------------------------------


def test_create_prints_the_id_and_refuses_a_duplicate_name(cli: Any, engine: Engine) -> None:
    created = cli("collections", "create", "reports", "--json")
    assert created.code == 0
    body = created.json()
    assert body["name"] == "reports" and body["status"] == "created"
    assert cli("collections", "status", body["id"], "--json").json()["name"] == "reports"

    text_out = cli("collections", "create", "papers", "--description", "PDFs")
    assert text_out.code == 0 and "papers" in text_out.out

    cli("collections", "create", "reports").assert_one_line_error("reports", "already exists")
    cli("collections", "create", " padded ").assert_one_line_error("padded")
    cli("collections", "create", "x" * 201).assert_one_line_error("201")
    invariant_h_and_o(engine, body["id"])


def test_racing_creates_of_one_name_make_one_collection(db_url: str, engine: Engine) -> None:
    def create(eng: Engine, i: int) -> str:
        with write_tx(eng) as conn:
            return create_collection(conn, "contested", f"racer {i}")

    results = race_in_threads(db_url, 5, create)
    winners = [value for kind, value in results if kind == "ok"]
    losers = [value for kind, value in results if kind == "error"]
    assert len(winners) == 1, results
    assert all(isinstance(e, InputError) and "already exists" in str(e) for e in losers), losers
    with read_tx(engine) as conn:
        ids = conn.execute(select(collections_t.c.id)).scalars().all()
    assert ids == winners
    invariant_h_and_o(engine, winners[0])


def test_add_files_and_directories_recursively(cli: Any, engine: Engine, files: Path) -> None:
    cli("collections", "create", "c")
    added = cli("collections", "add", "c", str(files / "a.txt"), str(files / "sub"), "--json")
    assert added.code == 0, added.err
    body = added.json()
    assert sorted(Path(p).name for p in body["added"]) == ["a.txt", "c.txt", "d.html"]
    # copy-of-a.txt has a.txt's content: reported, not added.
    assert [Path(d["path"]).name for d in body["duplicates"]] == ["copy-of-a.txt"]
    assert Path(body["duplicates"][0]["same_content_as"]).name == "a.txt"

    again = cli("collections", "add", "c", str(files))
    assert again.code == 0
    assert "c: 1 added" in again.out  # only b.md is new; hidden files and .git are skipped
    assert "3 skipped" in again.out and "skipped 3 hidden entries" in again.out
    assert "not added" in again.out and "copy-of-a.txt" in again.out

    docs = cli("collections", "documents", "c", "--json").json()
    names = sorted(Path(d["path"]).name for d in docs)
    assert names == ["a.txt", "b.md", "c.txt", "d.html"]
    assert all(Path(d["path"]).is_absolute() for d in docs)
    status = cli("collections", "status", "c", "--json").json()
    assert status["documents"]["total"] == 4
    assert status["documents"]["pending"] == 4
    assert status["warnings"] == []


def test_add_reports_same_content_twice_in_one_call(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("same")
    (tmp_path / "two.txt").write_text("same")
    cli("collections", "create", "c")
    result = cli("collections", "add", "c", str(tmp_path / "one.txt"), str(tmp_path / "two.txt"))
    assert result.code == 0
    assert "1 added" in result.out and "1 duplicates" in result.out
    assert "not added" in result.out and "two.txt" in result.out and "one.txt" in result.out


def test_add_with_a_missing_path_adds_nothing(cli: Any, engine: Engine, files: Path) -> None:
    cli("collections", "create", "c")
    missing = str(files / "nope.txt")
    cli("collections", "add", "c", str(files / "a.txt"), missing).assert_one_line_error("nope.txt")
    assert count_documents(engine) == 0
    assert cli("collections", "status", "c", "--json").json()["documents"]["total"] == 0


def test_add_empty_directory_and_unknown_collection(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cli("collections", "create", "c")
    cli("collections", "add", "c", str(tmp_path / "empty")).assert_one_line_error()
    (tmp_path / "f.txt").write_text("x")
    cli("collections", "add", "ghost", str(tmp_path / "f.txt")).assert_one_line_error("ghost")
