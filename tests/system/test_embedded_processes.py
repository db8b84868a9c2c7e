"""The embedded mode's worker processes on a SQLite file, as a user runs them: a worker
process killed mid-document, Ctrl-C of ``ingest`` and a second ``ingest``, ``fileintel run``
killed and ``ingest`` again, two ``fileintel run`` on one file. Each ends with the invariants:
history legal and contiguous, one outbox event per history row, chunk rows equal to what
the pipeline gives each file on its own.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from fileintel.db import make_engine, read_tx
from fileintel.models.tables import documents_t
from tests.corpus import Corpus, assert_chunks_match, make_mixed_corpus, terminal_status
from tests.helpers import invariant_h_and_o, wait_for
from tests.processes import (
    children_of,
    cli,
    cli_env,
    cli_json,
    gone,
    logs_of,
    run_cli,
    start_process,
    stop_process,
)

pytestmark = pytest.mark.slow

#: Files big enough that a worker is still on one when the test strikes (about a second).
BIG_FILES = 3
BIG_WORDS = 1_500_000
#: Well under the dispatch timeout (120 s) and the lease (60 s) the default settings keep:
#: a resumed run that finishes within this did not wait for either.
AT_ONCE_SECONDS = 45.0


@pytest.fixture(scope="module")
def slow_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The mixed corpus plus a few big text files registered first (sorted names)."""
    root = tmp_path_factory.mktemp("embedded") / "docs"
    root.mkdir()
    rng = random.Random(7)
    words = ["orbit", "harbour", "lattice", "meadow", "quartz", "signal", "timber", "vessel"]
    for i in range(BIG_FILES):
        text = " ".join(rng.choice(words) for _ in range(BIG_WORDS))
        (root / f"a-big-{i}.txt").write_text(text, encoding="utf-8")
    return make_mixed_corpus(root)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on the test's SQLite file."""
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


def big_document_in_processing(engine: Engine) -> int | None:
    """The id of a big document a worker holds right now, if any."""
    d = documents_t.c
    with read_tx(engine) as conn:
        return conn.execute(
            select(d.id).where(d.state == "processing", d.path.like("%a-big-%")).limit(1)
        ).scalar()


def two_workers(pid: int) -> list[int] | None:
    """The runtime's worker processes once both have started."""
    workers = children_of(pid)
    return workers if len(workers) == 2 else None


def documents_by_path(env: dict[str, str], name: str) -> dict[str, Any]:
    """``collections documents --json`` keyed by file name."""
    return {Path(d["path"]).name: d for d in cli_json(["collections", "documents", name], env)}


def assert_finished_like_a_clean_run(engine: Engine, env: dict[str, str], corpus: Corpus) -> str:
    """Terminal as the corpus says, invariants H and O, every chunk row as the pipeline's."""
    status = cli_json(["collections", "status", "docs"], env)
    assert status["status"] == "completed_with_errors", status
    assert status["documents"]["done"] == len(corpus.good)
    assert status["documents"]["failed"] == len(corpus.bad)
    invariant_h_and_o(engine, status["id"])
    assert_chunks_match(engine, status["id"], corpus)
    return str(status["id"])


def queue(env: dict[str, str], corpus: Corpus) -> None:
    """Register the corpus and request processing, as ``add`` and ``process`` do."""
    for args in (
        ["collections", "create", "docs"],
        ["collections", "add", "docs", str(corpus.root)],
        ["collections", "process", "docs"],
    ):
        done = cli(args, env)
        assert done.returncode == 0, done.stderr


def test_a_worker_process_killed_mid_document_is_recovered_by_its_lease(
    sqlite_url: str, engine: Engine, slow_corpus: Corpus, tmp_path: Path
) -> None:
    fast = {
        "FILEINTEL_LEASE_SECONDS": "4",
        "FILEINTEL_HEARTBEAT_SECONDS": "1",
        "FILEINTEL_SWEEP_INTERVAL_SECONDS": "1",
    }
    env = cli_env(sqlite_url, extra=fast)
    run = start_process(["run", "--processes", "2", "--threads", "1"], env, tmp_path / "run.log")
    try:
        first = wait_for(lambda: two_workers(run.pid), 30, "two worker processes")
        queue(env, slow_corpus)
        held = wait_for(lambda: big_document_in_processing(engine), 60, "a big document held")
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        collection_id = cli_json(["collections", "status", "docs"], env)["id"]
        wait_for(
            lambda: terminal_status(engine, collection_id),
            90,
            "the run to finish",
            details=lambda: logs_of(tmp_path),
        )
        replaced = children_of(run.pid)
        assert len(replaced) == 2 and not set(replaced) & set(first), "workers replaced"
        assert run.poll() is None, "the runtime itself lives on"
    finally:
        assert stop_process(run) == 0, logs_of(tmp_path)
    assert_finished_like_a_clean_run(engine, env, slow_corpus)
    killed = next(d for d in documents_by_path(env, "docs").values() if d["id"] == held)
    assert (killed["state"], killed["attempts"]) == ("done", 2)
    log = (tmp_path / "run.log").read_text()
    assert "exited with code -9" in log and "Traceback" not in log


def test_ctrl_c_of_ingest_stops_its_workers_and_a_second_ingest_finishes_at_once(
    sqlite_url: str, engine: Engine, slow_corpus: Corpus, tmp_path: Path
) -> None:
    env = cli_env(sqlite_url)
    args = ["ingest", str(slow_corpus.root), "--collection", "docs"]
    ingest = start_process([*args, "--processes", "2", "--threads", "1"], env, tmp_path / "i.log")
    try:
        wait_for(lambda: big_document_in_processing(engine), 60, "a big document held")
        workers = children_of(ingest.pid)
        os.killpg(ingest.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert ingest.wait(40) == 130
    finally:
        stop_process(ingest)
    assert workers and gone(workers), "the worker processes stopped with ingest"
    log = (tmp_path / "i.log").read_text()
    assert "interrupted: run" in log and "runs again" in log
    assert "Traceback" not in log and "database is locked" not in log
    status = cli_json(["collections", "status", "docs"], env)
    assert status["status"] == "processing", "a true state: the run is open, not finished"
    assert status["documents"]["pending"] > 0

    started = time.monotonic()
    again = run_cli(args, env, timeout=120)
    assert again.returncode == 3, again.stderr
    assert time.monotonic() - started < AT_ONCE_SECONDS, "resumed without waiting for timeouts"
    assert "database is locked" not in again.stderr
    assert_finished_like_a_clean_run(engine, env, slow_corpus)


def test_fileintel_run_killed_then_ingest_resumes_at_once(
    sqlite_url: str, engine: Engine, slow_corpus: Corpus, tmp_path: Path
) -> None:
    env = cli_env(sqlite_url)
    run = start_process(["run", "--processes", "2", "--threads", "1"], env, tmp_path / "run.log")
    try:
        workers = wait_for(lambda: two_workers(run.pid), 30, "two worker processes")
        queue(env, slow_corpus)
        held = wait_for(lambda: big_document_in_processing(engine), 60, "a big document held")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
        wait_for(lambda: gone(workers), 10, "the orphaned worker processes to exit")
    finally:
        stop_process(run)
    started = time.monotonic()
    again = run_cli(["ingest", str(slow_corpus.root), "--collection", "docs"], env, timeout=120)
    assert again.returncode == 3, again.stderr
    assert time.monotonic() - started < AT_ONCE_SECONDS, "resumed without waiting for timeouts"
    assert_finished_like_a_clean_run(engine, env, slow_corpus)
    killed = next(d for d in documents_by_path(env, "docs").values() if d["id"] == held)
    assert (killed["state"], killed["attempts"]) == ("done", 2)


def test_a_second_run_is_refused_and_ingest_lets_the_first_do_the_work(
    sqlite_url: str, engine: Engine, corpus: Corpus, tmp_path: Path
) -> None:
    env = cli_env(sqlite_url)
    log = tmp_path / "run.log"
    first = start_process(["run", "--processes", "2", "--threads", "1"], env, log)
    try:
        wait_for(lambda: "FileIntel running" in log.read_text(), 30, "the first run to start")
        second = run_cli(["run"], env, timeout=60)
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1 and "already runs" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr and second.stderr.startswith("error: ")

        ingest = run_cli(["ingest", str(corpus.root), "--collection", "docs"], env, timeout=120)
        assert ingest.returncode == 3, ingest.stderr
        assert "following it" in ingest.stderr
        assert "database is locked" not in ingest.stderr
        workers = children_of(first.pid)
    finally:
        assert stop_process(first) == 0, logs_of(tmp_path)
    assert gone(workers)
    assert_finished_like_a_clean_run(engine, env, corpus)
    doctor = {c["name"]: c for c in cli_json(["doctor"], env)}
    assert doctor["workers"]["level"] == "WARN"
    assert "fileintel run" in doctor["workers"]["message"], "stopped workers do not count"
