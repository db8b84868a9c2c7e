"""Which finishes wait for their WAL flush (PostgreSQL).

A finish that leaves the run open commits without waiting: a crash may roll it back, the
document is then still ``processing`` under its lease and the sweeper sends it again. The
finish that closes the run waits, so a run (and its collection) seen finished stays so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from fileintel.db import write_tx
from fileintel.errors import DocumentError
from fileintel.outbox.durable import written_asynchronously
from fileintel.store.document_work import Claim, claim_document, commit_outcome
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, document_rows
from tests.helpers import on_statements
from tests.outbox.support import outbox_rows
from tests.store.test_database_work import LEASE, pipeline_result, queue_corpus

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@contextmanager
def commit_modes(engine: Engine) -> Iterator[list[str]]:
    """The ``synchronous_commit`` in force at each COMMIT sent on ``engine``, in order."""
    seen: list[str] = []

    def look(cursor: Any, statement: str, _parameters: Any) -> None:
        if statement.strip().upper() == "COMMIT":
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])

    with on_statements(engine, look):
        yield seen


def finish_as_a_worker(engine: Engine, claim: Claim) -> bool:
    """Run the pipeline on the claimed document and commit its outcome; whether it closed
    the run."""
    try:
        result, error = pipeline_result(claim), None
    except DocumentError as e:
        result, error = None, str(e)
    return commit_outcome(engine, claim, result, error).run_finished is not None


def test_only_the_finish_that_closes_the_run_waits_for_the_flush(
    engine: Engine, worker: DocumentWorker, corpus: Corpus
) -> None:
    collection_id, run_id = queue_corpus(engine, corpus)
    worker.start_run(run_id)
    docs = sorted(document_rows(engine, collection_id).values(), key=lambda d: Path(d.path).name)
    closed: list[bool] = []
    modes: list[list[str]] = []
    for doc in docs:
        with write_tx(engine) as conn:
            claim = claim_document(conn, run_id, doc.id, 1, LEASE)
        with commit_modes(engine) as seen:
            closed.append(finish_as_a_worker(engine, claim))
        modes.append(seen)
    assert closed == [False] * (len(docs) - 1) + [True]
    assert modes == [["off"]] * (len(docs) - 1) + [["on"]]
    # The relay knows the progress events these finishes wrote as possibly not yet durable.
    progress = [r for r in outbox_rows(engine) if r.topic.startswith("document.")]
    assert len(progress) == len(docs)
    assert all(written_asynchronously(r) for r in progress)
