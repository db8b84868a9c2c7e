"""The CLI read side through the real entry point, on both backends: list, status, history,
documents, process and runs, errors, warnings.

Most tests call ``fileintel.cli.main`` in-process and read stdout/stderr; a few run the
installed ``fileintel`` script in subprocesses (the environment variable, and concurrent
``process`` invocations).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from fileintel.db import read_tx, write_tx
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import documents_t, runs_t
from fileintel.store.transitions import transition
from tests.cli.support import DOCUMENT_COUNTERS, STATUS_KEYS, parse_utc
from tests.helpers import invariant_h_and_o, make_collection
from tests.processes import FILEINTEL

# --- list, status, history, documents -----------------------------------------------------


def test_list_filters_by_status(cli: Any, engine: Engine) -> None:
    make_collection(engine, "idle", 1)
    busy = make_collection(engine, "busy", 2)
    assert cli("collections", "process", "busy").code == 0

    everything = cli("collections", "list", "--json").json()
    assert sorted(c["name"] for c in everything) == ["busy", "idle"]
    for row in everything:
        assert {"id", "name", "status", "status_updated_at", "warnings"} <= set(row)
        parse_utc(row["status_updated_at"])
        assert row["warnings"] == []

    queued = cli("collections", "list", "--status", "queued", "--json").json()
    assert [(c["id"], c["status"]) for c in queued] == [(busy, "queued")]
    assert cli("collections", "list", "--status", "failed", "--json").json() == []

    human = cli("collections", "list")
    assert human.code == 0 and "idle" in human.out and "busy" in human.out

    usage = cli("collections", "list", "--status", "stuck")  # a usage error: exit 2
    assert usage.code == 2 and "'stuck' is not one of" in usage.err and "'queued'" in usage.err


def test_status_json_has_the_documented_shape(cli: Any, engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 3)
    before = cli("collections", "status", "c", "--json").json()
    assert set(before) >= STATUS_KEYS
    assert before["id"] == collection_id
    assert before["status"] == "created"
    assert before["status_description"] == CollectionStatus.CREATED.description
    assert before["current_run_id"] is None and before["attempt"] is None
    assert set(before["documents"]) == DOCUMENT_COUNTERS
    assert before["documents"]["total"] == 3 and before["documents"]["pending"] == 3
    assert before["chunks"] == 0 and before["embedding_coverage"] == 0
    assert before["warnings"] == []

    process = cli("collections", "process", "c", "--json")
    run_id = process.json()["run_id"]
    view = cli("collections", "status", collection_id, "--json").json()
    assert view["status"] == "queued"
    assert view["current_run_id"] == run_id
    assert view["attempt"] == 1
    assert view["status_message"] and "3 documents" in view["status_message"]
    updated = parse_utc(view["status_updated_at"])
    assert updated >= parse_utc(before["status_updated_at"])
    assert isinstance(view["seconds_in_status"], int | float)
    assert 0 <= view["seconds_in_status"] < 60
    assert isinstance(view["embedding_coverage"], int | float)

    human = cli("collections", "status", "c")
    assert human.code == 0 and "queued" in human.out and run_id in human.out


def test_history_json_starts_with_creation(cli: Any, engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 1)
    run_id = cli("collections", "process", "c", "--json").json()["run_id"]
    with write_tx(engine) as conn:
        transition(conn, collection_id, CollectionStatus.CANCELLED, actor="test", message="stop")

    rows = cli("collections", "history", "c", "--json").json()
    assert [set(r) for r in rows] == [{"seq", "from", "to", "run_id", "message", "actor", "at"}] * 3
    assert [(r["seq"], r["from"], r["to"]) for r in rows] == [
        (1, None, "created"),
        (2, "created", "queued"),
        (3, "queued", "cancelled"),
    ]
    assert rows[1]["run_id"] == run_id
    assert rows[2]["message"] == "stop" and rows[2]["actor"] == "test"
    times = [parse_utc(r["at"]) for r in rows]
    assert times == sorted(times)
    human = cli("collections", "history", collection_id)
    assert human.code == 0 and len(human.out.strip().splitlines()) == 3


def test_documents_json_and_state_filter(cli: Any, engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 3)
    with write_tx(engine) as conn:  # one document failed in an earlier run (test setup)
        first = conn.execute(
            select(func.min(documents_t.c.id)).where(documents_t.c.collection_id == collection_id)
        ).scalar_one()
        conn.execute(
            documents_t.update()
            .where(documents_t.c.id == first)
            .values(state="failed", error="encrypted PDF", attempt=2)
        )

    rows = cli("collections", "documents", "c", "--json").json()
    assert len(rows) == 3
    assert all(set(r) == {"id", "path", "state", "error", "chunks", "attempts"} for r in rows)
    failed = cli("collections", "documents", "c", "--state", "failed", "--json").json()
    assert failed == [
        {
            "id": first,
            "path": "/data/c/doc-00000.txt",
            "state": "failed",
            "error": "encrypted PDF",
            "chunks": 0,
            "attempts": 2,
        }
    ]
    pending = cli("collections", "documents", "c", "--state", "pending", "--json").json()
    assert len(pending) == 2 and {r["state"] for r in pending} == {"pending"}
    assert cli("collections", "documents", "c", "--state", "done", "--json").json() == []

    usage = cli("collections", "documents", "c", "--state", "finished")  # exit 2: usage
    assert usage.code == 2 and "'finished' is not one of" in usage.err and "'pending'" in usage.err


# --- process and runs ---------------------------------------------------------------------


def test_process_queues_once(cli: Any, engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 2)
    first = cli("collections", "process", "c", "--json")
    assert first.code == 0
    run_id = first.json()["run_id"]
    assert first.json()["status"] == "queued"

    line = cli("collections", "process", "c").assert_one_line_error("already queued")
    assert run_id in line
    with read_tx(engine) as conn:
        assert conn.execute(select(func.count()).select_from(runs_t)).scalar_one() == 1
    invariant_h_and_o(engine, collection_id)


def test_process_without_documents_is_refused(cli: Any, engine: Engine) -> None:
    make_collection(engine, "empty")
    cli("collections", "process", "empty").assert_one_line_error("no documents")
    assert cli("collections", "status", "empty", "--json").json()["status"] == "created"


def test_runs_show(cli: Any, engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 2)
    run_id = cli("collections", "process", "c", "--json").json()["run_id"]
    shown = cli("runs", "show", run_id, "--json").json()
    assert shown["id"] == run_id
    assert shown["collection_id"] == collection_id
    assert shown["collection_name"] == "c"
    assert shown["status"] == "queued" and shown["attempt"] == 1
    assert shown["documents"] == {
        "total": 2,
        "pending": 2,
        "processing": 0,
        "done": 0,
        "failed": 0,
        "skipped": 0,
    }
    human = cli("runs", "show", run_id)
    assert human.code == 0 and "c" in human.out and collection_id in human.out
    cli("runs", "show", "not-a-run").assert_one_line_error("not-a-run")


def test_concurrent_process_invocations_create_one_run(db_url: str, engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 3)
    env = {**os.environ, "FILEINTEL_DATABASE_URL": db_url}
    procs = [
        subprocess.Popen(
            [FILEINTEL, "collections", "process", "c", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    winners = [json.loads(out) for code, out, _ in results if code == 0]
    losers = [err for code, _, err in results if code != 0]
    assert len(winners) == 1, results
    assert {code for code, _, _ in results} == {0, 1}, results
    for err in losers:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "already queued" in lines[0], err
        assert winners[0]["run_id"] in lines[0]
    with read_tx(engine) as conn:
        runs = conn.execute(select(runs_t.c.id)).scalars().all()
    assert runs == [winners[0]["run_id"]]
    invariant_h_and_o(engine, collection_id)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["collections", "status", "ghost"],
        ["collections", "status", "ghost", "--json"],
        ["collections", "history", "ghost"],
        ["collections", "documents", "ghost"],
        ["collections", "process", "ghost"],
        ["collections", "status", "00000000-0000-0000-0000-000000000000"],
        ["runs", "show", "12345"],
        ["runs", "show", "'; DROP TABLE runs; --"],
    ],
)
def test_unknown_names_and_ids_are_one_line_errors(cli: Any, argv: list[str]) -> None:
    cli(*argv).assert_one_line_error(argv[2])


@pytest.mark.parametrize(
    "argv",
    [
        ["collections", "status"],
        ["collections", "frobnicate"],
        ["collections", "list", "--colour"],
        ["collections", "add", "c"],
        ["runs", "show"],
        ["collections", "documents", "c", "--limit", "0"],
    ],
)
def test_usage_errors_exit_2(cli: Any, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert "Usage:" in result.err or "Error:" in result.err


def test_database_url_from_the_environment(db_url: str, engine: Engine) -> None:
    make_collection(engine, "from-env", 1)
    env = {**os.environ, "FILEINTEL_DATABASE_URL": db_url}
    done = subprocess.run(
        [FILEINTEL, "collections", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert [c["name"] for c in json.loads(done.stdout)] == ["from-env"]


# --- warnings -----------------------------------------------------------------------------


def test_counters_that_disagree_are_a_warning(cli: Any, engine: Engine) -> None:
    collection_id = make_collection(engine, "c", 2)
    assert cli("collections", "status", "c", "--json").json()["warnings"] == []
    with write_tx(engine) as conn:
        conn.execute(
            text("UPDATE collections SET documents_pending = documents_pending + 1 WHERE id = :id"),
            {"id": collection_id},
        )
    warnings = cli("collections", "status", "c", "--json").json()["warnings"]
    assert [w["code"] for w in warnings] == ["counters_disagree"]
    assert all(set(w) == {"code", "message"} and w["message"] for w in warnings)

    listed = cli("collections", "list", "--json").json()
    assert [w["code"] for w in listed[0]["warnings"]] == ["counters_disagree"]
    make_collection(engine, "healthy", 1)
    stuck = cli("collections", "list", "--stuck", "--json").json()
    assert [c["name"] for c in stuck] == ["c"]
    human = cli("collections", "status", "c")
    assert "counters_disagree" in human.out
