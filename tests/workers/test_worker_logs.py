"""What a worker logs per document: failures with their reason always, successes at debug.

A worker processes millions of documents; their outcomes are in the database and the
events. At the default level (``FILEINTEL_LOG_LEVEL=info``) only failed documents get a
line; ``debug`` adds one per document done.
"""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import Engine

from fileintel.logs import configure_logging
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, deliver_outbox
from tests.store.test_database_work import queue_corpus

OUTCOME = re.compile(r"^document \d+ of run \S+ (done|failed)")


def outcomes(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """(level, message) of the worker's per-document lines."""
    return [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == "fileintel.worker" and OUTCOME.match(r.getMessage())
    ]


@pytest.mark.parametrize(("level", "done_lines"), [(logging.INFO, 0), (logging.DEBUG, 7)])
def test_per_document_lines_follow_the_level(
    engine: Engine,
    worker: DocumentWorker,
    corpus: Corpus,
    caplog: pytest.LogCaptureFixture,
    level: int,
    done_lines: int,
) -> None:
    queue_corpus(engine, corpus)
    with caplog.at_level(level, logger="fileintel.worker"):
        deliver_outbox(engine, worker)
    lines = outcomes(caplog)
    done = [lvl for lvl, m in lines if m.endswith(" done")]
    failed = [(lvl, m) for lvl, m in lines if " failed: " in m]
    assert done == ["DEBUG"] * done_lines, lines
    # Every failed document, with its reason, at info: 3 in the corpus.
    reasons = sorted(m.split(" failed: ", 1)[1] for _, m in failed)
    assert len(failed) == len(corpus.bad) == 3, lines
    assert all(lvl == "INFO" for lvl, _ in failed)
    assert reasons == sorted(e.error for e in corpus.bad if e.error), reasons


@pytest.mark.parametrize(("name", "number"), [("debug", logging.DEBUG), ("warning", 30)])
def test_configure_logging_takes_the_setting_names(name: str, number: int) -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    try:
        configure_logging("text", name)
        assert root.level == number
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]
