"""The embedded runtime (worker threads, relay and sweeper in this process) on both backends.

Faults are injected into FileIntel's own code with ``monkeypatch`` (finalisation that fails
once, a pipeline call that waits for a gate); the database, the broker and the relay are the
real ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

import fileintel.store.document_work as document_work
import fileintel.workers.actors as actors
from fileintel.config import Settings
from fileintel.db import read_tx
from fileintel.errors import EmbeddedBusy
from fileintel.messaging import DOCUMENTS_QUEUE
from fileintel.models.tables import status_events_t
from fileintel.runtime import EmbeddedRuntime
from tests.corpus import (
    Corpus,
    collection_row,
    document_rows,
    make_mixed_corpus,
    run_row,
    settings_for,
    terminal_status,
)
from tests.helpers import invariant_h_and_o, unpublished, wait_for
from tests.processes import cli_env, run_cli
from tests.store.test_database_work import assert_finished_like_pipeline, queue_corpus

RUN_TIMEOUT = 60.0


def fast_settings(db_url: str, **changes: Any) -> Settings:
    """Settings with a short relay poll, so tests wait on work, not on timers."""
    return settings_for(db_url, relay_poll_seconds=0.05, **changes)


@pytest.fixture
def start_runtime() -> Iterator[Callable[..., EmbeddedRuntime]]:
    """Start an EmbeddedRuntime (stopped at the end of the test)."""
    started: list[EmbeddedRuntime] = []

    def start(settings: Settings, threads: int = 2) -> EmbeddedRuntime:
        runtime = EmbeddedRuntime(settings, worker_threads=threads)
        runtime.start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop(timeout=15)


def finalisers(engine: Engine, collection_id: str) -> list[tuple[str, str]]:
    """(to, actor) of every history row."""
    e = status_events_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(e.to_status, e.actor).where(e.collection_id == collection_id).order_by(e.seq)
        ).all()
    return [(r.to_status, r.actor) for r in rows]


def test_embedded_run_gives_what_the_pipeline_gives(
    db_url: str, engine: Engine, corpus: Corpus, start_runtime: Callable[..., EmbeddedRuntime]
) -> None:
    start_runtime(fast_settings(db_url))
    collection_id, run_id = queue_corpus(engine, corpus)
    status = wait_for(
        lambda: terminal_status(engine, collection_id), timeout=RUN_TIMEOUT, what="the run"
    )
    assert status == "completed_with_errors"
    assert_finished_like_pipeline(engine, collection_id, corpus)
    assert run_row(engine, run_id).status == "completed_with_errors"
    # O: every outbox row (events and dispatches) is published.
    wait_for(lambda: unpublished(engine) == 0, timeout=20, what="the outbox to drain")
    assert finalisers(engine, collection_id)[-1] == ("completed_with_errors", "worker")


def test_commits_in_the_process_wake_the_relay_without_a_poll(
    db_url: str, corpus: Corpus, start_runtime: Callable[..., EmbeddedRuntime]
) -> None:
    """The relay never polls here (600 s); the request, the run's fan-out and every
    document's events still leave at once, woken by the commits that wrote them (SQLite has
    no NOTIFY: this is how ``ingest`` on the embedded defaults starts without waiting)."""
    runtime = start_runtime(settings_for(db_url, relay_poll_seconds=600.0))
    # The same engine as the runtime's, as the CLI's in-process commands use.
    collection_id, _ = queue_corpus(runtime.engine, corpus)
    status = wait_for(
        lambda: terminal_status(runtime.engine, collection_id),
        timeout=RUN_TIMEOUT,
        what="the run, with a relay that is only woken by commits",
    )
    assert status == "completed_with_errors"
    wait_for(lambda: unpublished(runtime.engine) == 0, timeout=20, what="the outbox to drain")


def test_finalisation_failing_once_is_retried_by_the_message(
    db_url: str,
    engine: Engine,
    corpus: Corpus,
    start_runtime: Callable[..., EmbeddedRuntime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last document's commit fails once in its final step; Dramatiq's retry of that
    same message closes the run. Nothing waits for a callback, and no committed state ever
    shows every document finished while the collection is still processing."""
    real = document_work.finalize_run
    failures: list[str] = []

    def finalize_failing_once(conn: Any, run_id: str, **kwargs: Any) -> Any:
        if not failures:
            failures.append(run_id)
            raise RuntimeError("injected: connection lost while closing the run")
        return real(conn, run_id, **kwargs)

    monkeypatch.setattr(document_work, "finalize_run", finalize_failing_once)
    # One worker thread: documents go in id order, so the last one is a good document.
    start_runtime(fast_settings(db_url), threads=1)
    collection_id, run_id = queue_corpus(engine, corpus)

    stuck: list[Any] = []

    def closed() -> str | None:
        row = collection_row(engine, collection_id)
        finished = row.documents_done + row.documents_failed + row.documents_skipped
        if row.status == "processing" and finished == row.documents_total:
            stuck.append(row)
        return terminal_status(engine, collection_id)

    assert wait_for(closed, timeout=RUN_TIMEOUT, what="the run") == "completed_with_errors"
    assert failures == [run_id]
    assert stuck == []
    assert_finished_like_pipeline(engine, collection_id, corpus)
    # Closed by the retried message (the worker), not by the sweeper's safety net.
    assert finalisers(engine, collection_id)[-1] == ("completed_with_errors", "worker")


def test_finalisation_failing_once_after_a_bad_last_document_is_retried(
    db_url: str,
    engine: Engine,
    tmp_path: Path,
    start_runtime: Callable[..., EmbeddedRuntime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same fault, but the last document is one the pipeline rejects (a corrupt PDF).

    The retry of the message must close the run within the broker's backoff, as it does for
    a good document, not only once the lease expires and the sweeper steps in.
    """
    only_bad = make_mixed_corpus(tmp_path / "all")
    keep = {"broken.pdf"}
    for path in list(only_bad.root.iterdir()):
        if path.name not in keep:
            path.unlink()
    corpus = Corpus(only_bad.root, {k: v for k, v in only_bad.expected.items() if v.name in keep})
    real = document_work.finalize_run
    failures: list[str] = []

    def finalize_failing_once(conn: Any, run_id: str, **kwargs: Any) -> Any:
        if not failures:
            failures.append(run_id)
            raise RuntimeError("injected: connection lost while closing the run")
        return real(conn, run_id, **kwargs)

    monkeypatch.setattr(document_work, "finalize_run", finalize_failing_once)
    # A long lease: recovery must come from the message's retry, not from lease expiry.
    start_runtime(fast_settings(db_url, lease_seconds=600.0, heartbeat_seconds=30.0))
    collection_id, _ = queue_corpus(engine, corpus)
    status = wait_for(
        lambda: terminal_status(engine, collection_id),
        timeout=10,
        what="the retried message to close the run",
    )
    assert status == "failed"
    assert failures
    (doc,) = document_rows(engine, collection_id).values()
    assert (doc.state, doc.error) == ("failed", corpus.by_name("broken.pdf").error)
    invariant_h_and_o(engine, collection_id)


def test_cancel_while_documents_are_in_flight(
    sqlite_url: str,
    corpus: Corpus,
    start_runtime: Callable[..., EmbeddedRuntime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``collections cancel`` from another process while two documents are being processed:
    the collection ends ``cancelled`` and stays so after those two finish."""
    from fileintel.db import make_engine

    engine = make_engine(sqlite_url)
    gate = threading.Event()
    entered: list[str] = []
    left: list[str] = []
    real = actors.process_file

    def gated_process_file(path: Path, *args: Any, **kwargs: Any) -> Any:
        entered.append(str(path))
        try:
            if not gate.wait(RUN_TIMEOUT):
                raise AssertionError("the gate was never opened")
            return real(path, *args, **kwargs)
        finally:
            left.append(str(path))

    monkeypatch.setattr(actors, "process_file", gated_process_file)
    runtime = start_runtime(fast_settings(sqlite_url), threads=2)
    collection_id, run_id = queue_corpus(engine, corpus)
    wait_for(lambda: len(entered) == 2, timeout=RUN_TIMEOUT, what="two documents in flight")
    assert collection_row(engine, collection_id).documents_processing == 2

    done = run_cli(["collections", "cancel", "docs"], cli_env(sqlite_url))
    assert done.returncode == 0, done.stderr
    history_at_cancel = finalisers(engine, collection_id)
    assert history_at_cancel[-1] == ("cancelled", "cli")

    gate.set()
    wait_for(lambda: len(left) == 2, timeout=RUN_TIMEOUT, what="the in-flight documents")
    runtime.broker.join(DOCUMENTS_QUEUE, timeout=int(RUN_TIMEOUT * 1000))

    assert finalisers(engine, collection_id) == history_at_cancel
    row = collection_row(engine, collection_id)
    assert row.status == "cancelled"
    assert (row.documents_processing, row.documents_done, row.chunks_total) == (0, 0, 0)
    assert run_row(engine, run_id).status == "cancelled"
    assert all(d.state == "pending" for d in document_rows(engine, collection_id).values())
    assert len(entered) == 2  # nothing else was processed after the cancel
    invariant_h_and_o(engine, collection_id)
    engine.dispose()


def test_one_runtime_per_database(
    db_url: str, start_runtime: Callable[..., EmbeddedRuntime]
) -> None:
    first = start_runtime(fast_settings(db_url))
    second = EmbeddedRuntime(fast_settings(db_url))
    with pytest.raises(EmbeddedBusy, match="already runs on"):
        second.start()
    first.stop(timeout=15)
    second.start()  # the lock was freed with the first runtime
    second.stop(timeout=15)
