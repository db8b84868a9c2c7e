"""The smaller findings of a hostile newcomer's test, each through the real entry point:
one line on stderr, the documented exit code, and nothing lost or left behind."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from fileintel.cli import main
from fileintel.logs import configure_logging
from fileintel.migrate import HEAD_REVISION
from fileintel.workers.actors import DocumentWorker
from tests.cli.support import Result, count_documents
from tests.corpus import deliver_outbox
from tests.helpers import invariant_h_and_o


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return Result(code, out, err)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("a\x01b", "control characters"),
        ("esc\x1b[31mred", "control characters"),
        ("two\nlines", "control characters"),
        ("0b7d4c62-1e4a-4d55-9c39-2e3b3a5d9f10", "looks like a collection id"),
        ("0B7D4C621E4A4D559C392E3B3A5D9F10", "looks like a collection id"),
    ],
)
def test_names_that_break_output_or_lookup_are_refused(
    cli: Any, engine: Engine, name: str, fragment: str
) -> None:
    cli("collections", "create", name).assert_one_line_error(fragment)
    assert cli("collections", "list", "--json").json() == []


def test_ids_are_case_insensitive(
    cli: Any, engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("some words to index")
    cid = cli("collections", "create", "c", "--json").json()["id"]
    assert cli("collections", "add", "c", str(tmp_path / "a.txt")).code == 0
    run_id = cli("collections", "process", "c", "--json").json()["run_id"]
    deliver_outbox(engine, worker)
    assert cli("collections", "status", cid.upper(), "--json").json()["id"] == cid
    shown = cli("runs", "show", run_id.upper(), "--json").json()
    assert shown["id"] == shown["run_id"] == run_id  # the key process prints, too


@pytest.mark.parametrize(
    "argv",
    [
        ["collections", "documents", "c", "--state", "bogus"],
        ["collections", "list", "--status", "bogus"],
        ["collections", "remove", "c"],
    ],
)
def test_invalid_option_values_are_usage_errors(cli: Any, argv: list[str]) -> None:
    cli("collections", "create", "c")
    done = cli(*argv)
    assert done.code == 2 and "Traceback" not in done.err and done.out == ""


def test_retry_without_failures_advises_process(cli: Any, engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("text")
    cli("collections", "create", "c")
    cli("collections", "add", "c", str(tmp_path))
    assert cli("collections", "process", "c").code == 0
    assert cli("collections", "cancel", "c").code == 0
    cli("collections", "retry", "c").assert_one_line_error(
        "no failed documents to retry", "fileintel collections process c"
    )
    assert cli("collections", "status", "c", "--json").json()["status"] == "cancelled"
    invariant_h_and_o(engine, cli("collections", "status", "c", "--json").json()["id"])


def test_a_missing_sqlite_file_is_named_and_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere.db'}"
    for argv in (["collections", "list"], ["runs", "show", "x"], ["doctor"]):
        done = _run(capsys, "--database-url", url, *argv)
        assert done.code == 1 and "no database file at" in (done.err + done.out), done
    current = _run(capsys, "--database-url", url, "db", "current")
    assert current.code == 0 and "revision (none)" in current.out
    assert not (tmp_path / "nowhere.db").exists()


def test_db_upgrade_names_the_revision_it_reached(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = _run(capsys, "--database-url", url, "db", "upgrade", "--revision", "0001")
    assert first.code == 0 and first.out.strip().endswith("at revision 0001"), first
    second = _run(capsys, "--database-url", url, "db", "upgrade")
    assert second.code == 0 and second.out.strip().endswith(f"at revision {HEAD_REVISION}"), second


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql+psycopg2://postgres@127.0.0.1:1/x", "refused the connection"),
        ("postgresql+psycopg2://postgres@no-such-host.invalid/x", "host is unknown"),
        ("postgresql+psycopg2://postgres@127.0.0.1:5432/fileintel_no_such_db", "does not exist"),
    ],
)
def test_database_errors_are_one_line_with_the_cause(
    capsys: pytest.CaptureFixture[str], url: str, fragment: str
) -> None:
    line = _run(capsys, "--database-url", url, "collections", "list").assert_one_line_error(
        fragment
    )
    assert "OperationalError" not in line and "Background on this error" not in line


def test_a_file_that_is_not_a_database_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    _run(
        capsys, "--database-url", f"sqlite:///{junk}", "collections", "list"
    ).assert_one_line_error("not a SQLite database")
    assert junk.read_bytes() == b"this is not a database" * 100


@pytest.mark.parametrize(
    ("embedder", "fragment"),
    [
        ("bogus", "FILEINTEL_EMBEDDER: unknown embedder 'bogus'"),
        ("sentence-transformers:all-MiniLM-L6-v2", "needs the sentence-transformers package"),
    ],
)
def test_a_bad_embedder_stops_ingest_at_start_up(
    cli: Any,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    embedder: str,
    fragment: str,
) -> None:
    if embedder.startswith("sentence") and _installed("sentence_transformers"):
        pytest.skip("sentence-transformers is installed here")
    (tmp_path / "a.txt").write_text("text")
    monkeypatch.setenv("FILEINTEL_EMBEDDER", embedder)
    cli("ingest", str(tmp_path), "--collection", "c").assert_one_line_error(fragment)
    assert count_documents(engine) == 0  # checked before anything was registered


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_apscheduler_job_lines_are_debug(capsys: pytest.CaptureFixture[str]) -> None:
    executor = logging.getLogger("apscheduler.executors.default")
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("text", "info")
        executor.info('Running job "sweep" (scheduled at ...)')
        assert "Running job" not in capsys.readouterr().err
        configure_logging("text", "debug")
        executor.info('Job "sweep" executed successfully')
        assert "executed successfully" in capsys.readouterr().err
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
