"""Nothing leaves the database while a crash could still roll it back (PostgreSQL).

A worker's finish commits without waiting for its WAL flush: other sessions see its rows
(its ``document.*`` progress event) before they are on disk. The relay must not publish
such a row until it is; rows that synchronous commits wrote need no wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, text

from fileintel.backends.postgresql import FLUSH_COMMITTED
from fileintel.backends.postgresql_session import manual_tx
from fileintel.models.events import new_event_id
from fileintel.outbox.publishers import Outcome
from fileintel.store.outbox_rows import add_event
from tests.helpers import on_statements
from tests.outbox.support import RecordingSink, add_events
from tests.outbox.test_relay import make_relay

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def wal_position(engine: Engine, which: str) -> int:
    """``insert`` or ``flush``: how far PostgreSQL has written or flushed its WAL, in bytes."""
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT pg_current_wal_{which}_lsn() - '0/0'")).scalar_one())


class FlushWatchingSink(RecordingSink):
    """An events sink that notes, at each publish, how far the WAL is flushed."""

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine
        self.flushed_at_publish: list[int] = []

    def publish(self, rows: Sequence[Any]) -> Outcome:
        """Note the flushed WAL position, then record the rows."""
        self.flushed_at_publish.append(wal_position(self.engine, "flush"))
        return super().publish(rows)


def add_event_without_flush(engine: Engine, key: str) -> int:
    """Commit one event row as a worker's finish does (``synchronous_commit`` off); return
    a WAL position at or past its commit record."""
    with manual_tx(engine) as conn:
        conn.exec_driver_sql("BEGIN; SET LOCAL synchronous_commit TO off")
        add_event(conn, "document.done", key, {"event_id": new_event_id(), "collection_id": key})
    return wal_position(engine, "insert")


def test_a_row_committed_without_flush_is_published_only_once_durable(engine: Engine) -> None:
    sink = FlushWatchingSink(engine)
    relay = make_relay(engine, sink)
    for n in range(3):
        committed_to = add_event_without_flush(engine, f"c{n}")
        assert relay.run_once().published == 1
        assert sink.flushed_at_publish[-1] >= committed_to
    assert len(sink.published) == 3


def test_only_rows_an_asynchronous_commit_wrote_wait_for_the_flush(engine: Engine) -> None:
    flushes: list[str] = []

    def look(_cursor: Any, statement: str, _parameters: Any) -> None:
        if statement == FLUSH_COMMITTED:
            flushes.append(statement)

    relay = make_relay(engine, RecordingSink())
    with on_statements(engine, look):
        add_events(engine, "c1", 2, topic="collection.status_changed")  # committed synchronously
        assert relay.run_once().published == 2
        assert flushes == []
        add_event_without_flush(engine, "c1")
        assert relay.run_once().published == 1
        assert len(flushes) == 1
