"""The operator's view through the CLI: ``sweep``, stuck warnings, ``status --explain`` and
``doctor``, called through the ``fileintel`` entry point (in this process, or as a subprocess
where the whole process matters: exit status, logging set-up, a dead database)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import Engine

from fileintel.db import make_engine
from fileintel.models.states import TRANSITIONS, CollectionStatus
from tests.helpers import wait_for
from tests.processes import cli, cli_env, cli_json, run_cli, start_process, stop_process
from tests.sweeper.support import (
    backdate_lease,
    claim,
    document,
    notes,
    snapshot,
    started,
    sweep_lock_holders,
)

LEVEL_LINE = re.compile(r"^(OK|WARN|FAIL) +(\w+) +\S")


def stuck_collection(engine: Engine, name: str = "stuck") -> tuple[str, int]:
    """A processing collection with one document whose lease expired 93 s ago."""
    work = started(engine, name, 2)
    doc = work.doc_ids[0]
    claim(engine, work, doc)
    claim(engine, work, work.doc_ids[1])  # alive: its lease is still valid
    backdate_lease(engine, [doc], 93)
    return work.collection_id, doc


def test_sweep_json_through_the_cli_entry_point(engine: Engine, db_url: str) -> None:
    collection_id, doc = stuck_collection(engine)
    env = cli_env(db_url)
    before = snapshot(engine)

    dry = cli_json(["sweep", "--dry-run"], env)

    assert snapshot(engine) == before
    assert (dry["dry_run"], dry["found"], dry["decisions"], dry["errors"]) == (True, 1, {}, 0)
    assert len(dry["messages"]) == 1 and dry["messages"][0].startswith(f"document {doc} ")
    text = cli(["sweep", "--dry-run"], env)
    assert text.returncode == 0
    assert "1 item(s) need attention (dry run: nothing changed)" in text.stdout

    done = cli_json(["sweep"], env)

    assert (done["dry_run"], done["found"], done["decisions"], done["errors"]) == (
        False,
        1,
        {"redispatch_expired": 1},
        0,
    )
    assert document(engine, doc).attempt == 2
    assert [n.decision for n in notes(engine, collection_id)] == ["redispatch_expired"]
    again = cli(["sweep"], env)
    assert (again.returncode, again.stdout.strip()) == (0, "sweep: nothing to do")


def test_json_log_format_applies_to_sweep(sqlite_url: str) -> None:
    """Whatever ``sweep`` logs on stderr is JSON lines (the scheduler test covers content)."""
    engine = make_engine(sqlite_url)
    stuck_collection(engine)
    engine.dispose()
    done = run_cli(["sweep"], cli_env(sqlite_url, extra={"FILEINTEL_LOG_FORMAT": "json"}))
    assert done.returncode == 0, done.stderr
    for line in filter(None, done.stderr.splitlines()):
        assert isinstance(json.loads(line), dict), line


def test_status_list_and_explain_show_an_expired_lease(engine: Engine, db_url: str) -> None:
    collection_id, doc = stuck_collection(engine)
    env = cli_env(db_url)

    status = cli_json(["collections", "status", "stuck"], env)
    listed = cli_json(["collections", "list", "--stuck"], env)
    explained = cli_json(["collections", "status", "stuck", "--explain"], env)

    codes = [w["code"] for w in status["warnings"]]
    assert "lease_expired" in codes, status["warnings"]
    [warning] = [w for w in status["warnings"] if w["code"] == "lease_expired"]
    lost = r"1 document\(s\) lost their worker \(lease expired 9\d s ago\)"
    assert re.search(lost, warning["message"]), warning["message"]
    assert "no scheduler is running" in warning["message"]
    assert (status["status"], status["documents"]["processing"]) == ("processing", 2)

    assert [c["id"] for c in listed] == [collection_id]
    assert "lease_expired" in [w["code"] for w in listed[0]["warnings"]]

    why = explained["explain"]
    assert [t["to"] for t in why["last_transitions"]] == ["created", "queued", "processing"]
    leases = {lease["document_id"]: lease for lease in why["leases"]}
    assert leases[doc]["lease_seconds_left"] < -90
    assert leases[doc]["attempt"] == 1
    alive = next(x for x in leases.values() if x["document_id"] != doc)
    assert alive["lease_seconds_left"] > 0
    allowed = sorted(s.value for s in TRANSITIONS[CollectionStatus.PROCESSING])
    assert why["allowed_next"] == allowed

    # After a sweep the warning is gone and the explanation carries the sweeper's note.
    cli_json(["sweep"], env)
    assert cli_json(["collections", "list", "--stuck"], env) == []
    explained = cli_json(["collections", "status", "stuck", "--explain"], env)
    [note] = explained["explain"]["notes"]
    assert (note["decision"], note["document_id"], note["actor"]) == (
        "redispatch_expired",
        doc,
        "sweeper",
    )
    assert "re-dispatched as attempt 2" in note["message"]


def test_doctor_on_a_dead_database_fails_in_one_line_per_check() -> None:
    dead = "postgresql+psycopg2://postgres@127.0.0.1:5499/fileintel"
    done = run_cli(["doctor"], cli_env(dead))

    assert done.returncode != 0
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for line in lines:
        assert LEVEL_LINE.match(line), f"not an OK/WARN/FAIL line: {line!r}\n{done.stdout}"
    [database] = [line for line in lines if line.split()[1] == "database"]
    assert database.startswith("FAIL") and "127.0.0.1:5499" in database


def test_doctor_reports_a_running_scheduler(pg_url: str, tmp_path: Path) -> None:
    env = cli_env(pg_url)
    scheduler = start_process(["scheduler", "--interval", "1"], env, tmp_path / "scheduler.log")
    try:
        wait_for(lambda: sweep_lock_holders(pg_url) == 1, timeout=30, what="the sweep lock")
        done = cli(["doctor"], env)
    finally:
        assert stop_process(scheduler, group=True) is not None
    lines = done.stdout.splitlines()
    assert all(LEVEL_LINE.match(line) for line in lines), done.stdout
    checks = {line.split()[1]: line.split()[0] for line in lines}
    assert checks["database"] == "OK" and checks["scheduler"] == "OK", done.stdout
    assert checks["workers"] == "WARN"  # none running: said, not fatal
    assert done.returncode == 0, done.stdout + done.stderr


def test_doctor_json_lists_every_check(pg_url: str) -> None:
    checks = cli_json(["doctor"], cli_env(pg_url))
    names = [c["name"] for c in checks]
    assert names[:3] == ["database", "broker", "events"]
    assert {"relay", "scheduler", "workers", "stuck"} <= set(names)
    assert all(c["level"] in ("OK", "WARN", "FAIL") for c in checks)


def test_doctor_with_bad_configuration_says_which_variable() -> None:
    done = cli(["doctor"], cli_env("mysql://127.0.0.1/x"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "FILEINTEL_DATABASE_URL" in done.stderr
