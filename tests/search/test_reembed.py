"""``collections reembed``: a run of its own that moves a collection to another model."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from fileintel.db import read_tx, write_tx
from fileintel.errors import AlreadyProcessing, InputError
from fileintel.models.tables import chunks_t, documents_t, runs_t
from fileintel.store.reembed import request_reembed
from fileintel.workers.actors import DocumentWorker
from tests.corpus import collection_row, deliver_outbox
from tests.helpers import invariant_h_and_o
from tests.search.support import ask, folder_of, processed
from tests.store.test_database_work import request_run


def models(engine: Engine, collection_id: str) -> dict[str, int]:
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(chunks_t.c.embedding_model).where(chunks_t.c.collection_id == collection_id)
        ).all()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.embedding_model] = counts.get(r.embedding_model, 0) + 1
    return counts


def test_reembed_is_a_tracked_run_that_switches_the_model(
    engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    folder = folder_of(
        tmp_path / "docs",
        {
            "refunds.txt": "Refund policy: purchases may be returned for a refund.\n",
            "hours.txt": "Opening hours: nine to five on weekdays.\n",
            "empty.txt": "",  # fails: no chunks, stays failed
        },
    )
    collection_id = processed(engine, worker, folder, "switch", "hashing")
    assert models(engine, collection_id) == {"hashing-ngrams-v1": 2}
    with read_tx(engine) as conn:
        metadata_before = dict(
            conn.execute(select(documents_t.c.path, documents_t.c.metadata)).all()
        )
    # Searched with the model it was embedded with, whatever the configured default is.
    assert ask(engine, collection_id, "refund", tmp_path, mode="vector").model == (
        "hashing-ngrams-v1"
    )
    (folder / "refunds.txt").unlink()  # a reembed embeds the stored chunks: files not read

    with write_tx(engine) as conn:
        run_id = request_reembed(conn, collection_id, "wordllama", deadline_seconds=None)
    with write_tx(engine) as conn, pytest.raises(AlreadyProcessing):
        request_reembed(conn, collection_id, "wordllama", deadline_seconds=None)
    deliver_outbox(engine, worker)

    row = collection_row(engine, collection_id)
    assert row.status == "completed_with_errors"  # the failed document is still failed
    assert row.current_run_id == run_id
    with read_tx(engine) as conn:
        run = conn.execute(select(runs_t).where(runs_t.c.id == run_id)).one()
        metadata_after = dict(
            conn.execute(select(documents_t.c.path, documents_t.c.metadata)).all()
        )
    assert (run.kind, run.status, run.documents_total, run.documents_done) == (
        "reembed",
        "completed_with_errors",  # as its collection: one document is still failed
        2,
        2,
    )
    assert metadata_after == metadata_before
    assert models(engine, collection_id) == {"wordllama-l2_supercat-256": 2}
    history = invariant_h_and_o(engine, collection_id)  # H and O hold; the path:
    assert [h[2] for h in history][-3:] == ["queued", "processing", "completed_with_errors"]
    result = ask(engine, collection_id, "can I get my money back", tmp_path, mode="vector")
    assert result.model == "wordllama-l2_supercat-256"
    assert Path(result.hits[0].path).name == "refunds.txt"

    # A later process run keeps the new model and finds the documents unchanged.
    (folder / "refunds.txt").write_text("Refund policy: purchases may be returned for a refund.\n")
    request_run(engine, collection_id, "process")
    deliver_outbox(engine, worker)
    assert models(engine, collection_id) == {"wordllama-l2_supercat-256": 2}


def test_reembed_refuses_an_unknown_embedder_and_an_empty_collection(
    engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    folder = folder_of(tmp_path / "docs", {"a.txt": "Some text.\n"})
    collection_id = processed(engine, worker, folder, "c", "hashing")
    with write_tx(engine) as conn, pytest.raises(InputError, match="--embedder: unknown"):
        request_reembed(conn, collection_id, "word2vec", deadline_seconds=None)
    blank = folder_of(tmp_path / "blank", {"empty.txt": ""})
    failed_only = processed(engine, worker, blank, "d", "hashing")
    with write_tx(engine) as conn, pytest.raises(InputError, match="no processed documents"):
        request_reembed(conn, failed_only, "hashing", deadline_seconds=None)
