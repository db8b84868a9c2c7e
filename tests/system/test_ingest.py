"""The main job through the CLI on the embedded defaults: ``fileintel ingest`` as a user runs
it (a subprocess on a SQLite file, in-process broker), then retry and reprocessing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fileintel.db import make_engine
from fileintel.pipeline.pdfgen import write_minimal_pdf
from tests.cli.support import STATUS_KEYS
from tests.corpus import (
    Corpus,
    Expected,
    assert_chunks_match,
    assert_documents_match,
    make_mixed_corpus,
    pipeline_outcome,
)
from tests.helpers import invariant_h_and_o
from tests.processes import cli_env, run_cli, run_cli_json


def ingest(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``fileintel ingest ... --json``; return its exit code and summary."""
    done = run_cli(["ingest", *args, "--json"], env, timeout=180)
    assert done.stdout, f"ingest printed nothing: {done.returncode} {done.stderr}"
    return done.returncode, json.loads(done.stdout)


def test_ingest_reports_every_document_like_the_pipeline(sqlite_url: str, corpus: Corpus) -> None:
    env = cli_env(sqlite_url)
    code, summary = ingest(env, str(corpus.root), "--collection", "mixed")
    assert code == 3, summary
    assert summary["status"] == "completed_with_errors"
    assert summary["documents"] == {
        "total": 10,
        "pending": 0,
        "processing": 0,
        "done": 7,
        "failed": 3,
        "skipped": 0,
    }
    assert summary["embedding_coverage"] == 100.0
    assert {d["path"]: d["error"] for d in summary["failed_documents"]} == {
        e.path: e.error for e in corpus.bad
    }

    documents = run_cli_json(["collections", "documents", "mixed"], env)
    assert_documents_match(documents, corpus)
    assert {d["attempts"] for d in documents} == {1}

    status = run_cli_json(["collections", "status", "mixed"], env)
    assert set(status) >= STATUS_KEYS
    assert status["status"] == "completed_with_errors"
    assert status["chunks"] == corpus.total_chunks
    assert status["embedding_coverage"] == 100.0
    assert status["current_run_id"] == summary["run_id"]
    assert status["warnings"] == []

    history = run_cli_json(["collections", "history", "mixed"], env)
    moves = [(h["from"], h["to"]) for h in history]
    assert moves == [
        (None, "created"),
        ("created", "queued"),
        ("queued", "processing"),
        ("processing", "completed_with_errors"),
    ]
    assert all(h["run_id"] == summary["run_id"] for h in history[1:])

    engine = make_engine(sqlite_url)
    assert_chunks_match(engine, status["id"], corpus)
    invariant_h_and_o(engine, status["id"])
    engine.dispose()


def test_retry_then_reprocess_through_the_cli(sqlite_url: str, tmp_path: Path) -> None:
    corpus = make_mixed_corpus(tmp_path / "docs")
    env = cli_env(sqlite_url)
    code, first = ingest(env, str(corpus.root), "--collection", "books")
    assert code == 3 and first["documents"]["failed"] == 3

    # retry: a new run of exactly the 3 failed documents; the 7 good ones are not touched.
    done = run_cli(["collections", "retry", "books", "--wait", "--json"], env, timeout=180)
    retried = json.loads(done.stdout)
    # The collection still holds its 7 good documents: with errors, not failed.
    assert (done.returncode, retried["status"]) == (3, "completed_with_errors"), done.stderr
    assert retried["run_id"] != first["run_id"]
    run = run_cli_json(["runs", "show", retried["run_id"]], env)
    assert run["kind"] == "retry"
    assert run["documents"] == {
        "total": 3,
        "pending": 0,
        "processing": 0,
        "done": 0,
        "failed": 3,
        "skipped": 0,
    }
    assert (retried["documents"]["done"], retried["documents"]["failed"]) == (7, 3)
    assert retried["chunks"] == corpus.total_chunks

    # The user repairs the corrupt PDF and registers its new content: it is pending again.
    broken = corpus.by_name("broken.pdf")
    write_minimal_pdf(Path(broken.path), ["A repaired page about rook and bishop endgames."])
    state, error, chunks = pipeline_outcome(Path(broken.path))
    assert state == "done"
    fixed = Expected(broken.name, broken.path, state, error, chunks)
    repaired = Corpus(corpus.root, {**corpus.expected, broken.path: fixed})
    added = run_cli_json(["collections", "add", "books", broken.path], env)
    assert added["updated"] == [broken.path]

    # process: unchanged documents are skipped, the repaired one is processed, the two that
    # cannot be processed fail again.
    done = run_cli(["collections", "process", "books", "--wait", "--json"], env, timeout=180)
    assert done.returncode == 3, done.stderr
    again = json.loads(done.stdout)
    counts = again["documents"]
    assert (counts["skipped"], counts["done"], counts["failed"]) == (7, 1, 2)
    assert again["chunks"] == repaired.total_chunks
    documents = run_cli_json(["collections", "documents", "books"], env)
    states = {d["path"]: d["state"] for d in documents}
    assert states[broken.path] == "done"
    assert sorted(states.values()).count("skipped") == 7

    # --force reprocesses everything, with the same chunks as before (replaced, not added).
    done = run_cli(
        ["collections", "process", "books", "--wait", "--force", "--json"], env, timeout=180
    )
    assert done.returncode == 3, done.stderr
    forced = json.loads(done.stdout)
    assert (forced["documents"]["done"], forced["documents"]["failed"]) == (8, 2)
    assert forced["chunks"] == repaired.total_chunks
    assert forced["embedding_coverage"] == 100.0
    assert_documents_match(run_cli_json(["collections", "documents", "books"], env), repaired)

    engine = make_engine(sqlite_url)
    assert_chunks_match(engine, forced["id"], repaired)
    history = invariant_h_and_o(engine, forced["id"])
    assert [h.to_status for h in history].count("queued") == 4
    engine.dispose()
