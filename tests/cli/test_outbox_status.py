"""The ``outbox`` commands through the CLI entry point, and the outbox facts they show.

(The real ``fileintel relay`` process killed mid-publish: ``tests/system/test_relay_crash.py``.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, update

from fileintel.cli import main
from fileintel.db import write_tx
from fileintel.models.tables import outbox_t
from tests.outbox.support import add_events, outbox_rows


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``fileintel relay`` configures logging for the process: undo it after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_outbox_status_and_retry_parked_through_the_cli(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(engine, "c1", 3, topic="collection.status_changed")
    add_events(engine, "c2", 2, topic="document.done")
    first = outbox_rows(engine)[0].id
    with write_tx(engine) as conn:
        conn.execute(
            update(outbox_t)
            .where(outbox_t.c.id == first)
            .values(parked_at=outbox_t.c.created_at, attempts=10, last_error="boom")
        )

    assert main(["--database-url", db_url, "relay", "--once"]) == 0
    assert "published 4" in capsys.readouterr().out
    assert main(["--database-url", db_url, "outbox", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)

    assert status["backlog"] == 1 and status["parked"] == 1
    assert isinstance(status["oldest_unpublished_seconds"], float)
    assert status["parked_rows"] == [
        {
            "id": first,
            "topic": "collection.status_changed",
            "key": "c1",
            "attempts": 10,
            "last_error": "boom",
        }
    ]
    assert status["published_last_minute"] == 4
    assert status["by_topic"] == {"collection.status_changed": 1}

    assert main(["--database-url", db_url, "outbox", "status"]) == 0
    human = capsys.readouterr().out
    assert "backlog" in human and "boom" in human and "retry-parked" in human

    assert main(["--database-url", db_url, "outbox", "retry-parked", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"retried": 1}
    assert main(["--database-url", db_url, "relay", "--once"]) == 0
    capsys.readouterr()
    assert main(["--database-url", db_url, "outbox", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["backlog"], status["parked"], status["oldest_unpublished_seconds"]) == (
        0,
        0,
        None,
    )
    assert status["parked_rows"] == [] and status["by_topic"] == {}


def test_a_parked_row_ages_the_backlog_but_not_the_relays_lag(engine: Engine) -> None:
    from fileintel.db import db_now, read_tx
    from fileintel.store.liveness import outbox_facts

    add_events(engine, "c1", 1)
    add_events(engine, "c2", 1)
    parked, due = (row.id for row in outbox_rows(engine))
    with write_tx(engine) as conn:
        conn.execute(
            update(outbox_t)
            .where(outbox_t.c.id == parked)
            .values(created_at=db_now(-600), available_at=db_now(-600), parked_at=db_now())
        )
    with read_tx(engine) as conn:
        facts = outbox_facts(conn)
    assert (facts.backlog, facts.parked) == (2, 1)
    assert facts.oldest_seconds is not None and facts.oldest_seconds >= 600
    assert facts.lag_seconds is not None and facts.lag_seconds < 60

    with write_tx(engine) as conn:
        conn.execute(update(outbox_t).where(outbox_t.c.id == due).values(available_at=db_now(-90)))
    with read_tx(engine) as conn:
        assert 90 <= (outbox_facts(conn).lag_seconds or 0) < 600
