"""``/api/events`` from a real ``fileintel web``: a client connected before ``process``
gets every event of the run in order; one that comes back with ``Last-Event-ID`` gets
exactly the events after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from fileintel.db import read_tx
from fileintel.models.events import STATUS_CHANGED
from fileintel.store.event_tail import events_between
from fileintel.workers.actors import DocumentWorker
from tests.corpus import Corpus
from tests.helpers import wait_for
from tests.processes import logs_of
from tests.web.conftest import add_corpus, process
from tests.web.support import SseClient, web_server

Events = list[tuple[int, dict[str, Any]]]


def ended(client: SseClient) -> bool:
    """Whether the client has seen a terminal status change."""
    return any(
        e["type"] == STATUS_CHANGED and e["to"] not in ("queued", "processing")
        for _, e in client.events
    )


def test_a_run_streams_in_order_and_resumes_after_last_event_id(
    db_url: str, engine: Engine, worker: DocumentWorker, corpus: Corpus, tmp_path: Path
) -> None:
    books = add_corpus(engine, "books", corpus)
    with web_server(db_url, tmp_path / "logs") as server:
        everything = SseClient(f"{server.url}/api/events").start()
        mine = SseClient(f"{server.url}/api/events?collection=books").start()
        process(engine, worker, books)
        for client in (everything, mine):
            wait_for(
                lambda c=client: ended(c),  # type: ignore[misc]
                30,
                "the terminal event",
                details=lambda: logs_of(server.logs),
            )
        got: Events = mine.events
        ids = [i for i, _ in got]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        # Exactly the outbox's events of the collection, in id order, as the relay sends them.
        with read_tx(engine) as conn:
            stored = events_between(conn, ids[0] - 1, ids[-1], books)
        assert got == [(e.position, e.payload) for e in stored]
        changes = [e for _, e in got if e["type"] == STATUS_CHANGED]
        assert [e["to"] for e in changes] == ["queued", "processing", "completed_with_errors"]
        assert [e["seq"] for e in changes] == [2, 3, 4]
        documents = [e for _, e in got if e["type"].startswith("document.")]
        assert len(documents) == len(corpus.good) + len(corpus.bad)
        assert all(changes[1]["at"] <= d["at"] for d in documents)
        assert got[-1][1] == changes[-1]  # the terminal change is the last event
        assert documents[-1]["documents"]["pending"] == 0
        # The unfiltered stream has the same events (no other collection is busy).
        assert everything.events == got

        # A browser that comes back after the ``processing`` event misses nothing.
        processing_id = next(i for i, e in got if e.get("to") == "processing")
        back = SseClient(
            f"{server.url}/api/events?collection=books",
            headers={"Last-Event-ID": str(processing_id)},
        ).start()
        after = [(i, e) for i, e in got if i > processing_id]
        wait_for(lambda: len(back.events) >= len(after), 15, "the missed events")
        assert back.events == after
        # ``after`` (a page's rendered position) means the same; Last-Event-ID wins.
        page = SseClient(f"{server.url}/api/events?after={ids[-2]}").start()
        wait_for(lambda: page.events, 15, "the last event")
        assert page.events == got[-1:]
        for client in (everything, mine, back, page):
            client.stop()
