"""Fixtures of the web tests: a processed collection, the app in this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from fileintel.db import write_tx
from fileintel.store.collections import create_collection
from fileintel.store.documents import register_scan, scan_paths
from fileintel.store.runs import request_processing
from fileintel.web.app import create_app
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus, deliver_outbox, settings_for

#: A collection name that would run as script if a page did not escape it.
XSS_NAME = "<script>alert(1)</script>"


def add_corpus(engine: Engine, name: str, corpus: Corpus) -> str:
    """A collection ``name`` with the mixed corpus registered; its id."""
    with write_tx(engine) as conn:
        collection_id = create_collection(conn, name, actor="test")
        register_scan(conn, collection_id, scan_paths([str(corpus.root)]))
    return collection_id


def process(engine: Engine, worker: DocumentWorker, collection_id: str) -> str:
    """Request a run and do all its work in this thread; the run id."""
    with write_tx(engine) as conn:
        run_id = request_processing(conn, collection_id, options={}, actor="test")
    deliver_outbox(engine, worker)
    return run_id


@pytest.fixture
def processed(engine: Engine, worker: DocumentWorker, corpus: Corpus) -> dict[str, str]:
    """``books`` processed once (completed_with_errors: the corpus has bad files) and the
    XSS-named collection, created only."""
    books = add_corpus(engine, "books", corpus)
    run_id = process(engine, worker, books)
    with write_tx(engine) as conn:
        xss = create_collection(conn, XSS_NAME, actor="test")
    return {"books": books, "run_id": run_id, "xss": xss}


@pytest.fixture
def client(db_url: str, engine: Engine) -> Iterator[TestClient]:
    """The application on the test database, its event reader running."""
    with TestClient(create_app(settings_for(db_url), engine)) as test_client:
        yield test_client
