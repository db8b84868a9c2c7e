"""``fileintel search`` on a processed collection, and commands refusing bad input.

The collections are processed in this process (``deliver_outbox``); the commands under test
run as ``fileintel`` subprocesses on the same database, as a user would run them.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, func, select

from fileintel.db import read_tx
from fileintel.models.tables import collections_t, outbox_t, runs_t, status_events_t
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, collection_row, deliver_outbox
from tests.processes import cli_env, run_cli
from tests.store.test_database_work import queue_corpus


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows in the tables a request or a registration writes."""
    with read_tx(engine) as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (collections_t, runs_t, status_events_t, outbox_t)
        }


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    """stderr is one ``error: ...`` line (no traceback) containing every fragment."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


def test_search_ranks_the_document_about_the_query_first(
    db_url: str, engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    queue_corpus(engine, corpus, "library")
    deliver_outbox(engine, worker)
    env = cli_env(db_url)
    done = run_cli(["search", "library", "basalt magma eruption lava caldera", "--json"], env)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert len(hits) == 5  # the default --top
    assert all(set(h) >= {"score", "path", "document_id", "chunk", "text"} for h in hits)
    assert hits[0]["path"] == corpus.by_name("volcanoes-report.pdf").path
    assert "basalt" in hits[0]["text"].lower() or "magma" in hits[0]["text"].lower()
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)

    done = run_cli(["search", "library", "sourdough yeast dough", "--top", "2", "--json"], env)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert len(hits) == 2
    assert hits[0]["path"] == corpus.by_name("baking-guide.md").path


def test_search_without_embeddings_searches_by_words_or_says_why_not(
    db_url: str, engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    """Hybrid falls back to the lexical index and says so; by meaning alone is an error."""
    collection_id, _ = queue_corpus(engine, corpus, "plain", no_embeddings=True)
    deliver_outbox(engine, worker)
    row = collection_row(engine, collection_id)
    assert row.status == "completed_with_errors"
    assert row.chunks_total == corpus.total_chunks and row.chunks_embedded == 0
    done = run_cli(["search", "plain", "basalt magma", "--json"], cli_env(db_url))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["path"] == corpus.by_name("volcanoes-report.pdf").path
    assert done.stderr == "note: no chunk has an embedding: searched by words only\n"
    done = run_cli(["search", "plain", "basalt magma", "--mode", "vector"], cli_env(db_url))
    assert done.returncode == 1
    assert done.stdout == ""
    assert_one_line_error(done.stderr, "no embedded chunks", "--no-embeddings")


def test_ingest_of_a_missing_path_creates_nothing(
    sqlite_url: str, tmp_path: Path, corpus: Corpus
) -> None:
    from fileintel.db import make_engine

    engine = make_engine(sqlite_url)
    before = table_counts(engine)
    missing = tmp_path / "no-such-folder"
    done = run_cli(
        ["ingest", str(corpus.root), str(missing), "--collection", "typo", "--json"],
        cli_env(sqlite_url),
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert_one_line_error(done.stderr, str(missing), "no such file or directory", "nothing")
    assert table_counts(engine) == before
    engine.dispose()


def test_process_of_an_empty_collection_is_refused(sqlite_url: str) -> None:
    from fileintel.db import make_engine

    env = cli_env(sqlite_url)
    assert run_cli(["collections", "create", "empty"], env).returncode == 0
    engine = make_engine(sqlite_url)
    before = table_counts(engine)
    done = run_cli(["collections", "process", "empty", "--wait"], env)
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "empty", "no documents", "collections add")
    assert table_counts(engine) == before
    assert collection_row(engine, "empty").status == "created"
    engine.dispose()
