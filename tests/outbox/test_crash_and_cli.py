"""The real ``fileintel relay`` process killed between publishing and committing, and the
``outbox`` commands through the CLI entry point.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from fileintel.cli import main
from fileintel.db import write_tx
from fileintel.models.tables import outbox_t
from fileintel.outbox.relay import CRASH_AFTER_PUBLISH_ENV, CRASH_EXIT_CODE
from tests.outbox.support import (
    add_events,
    busy_collection,
    cycle,
    fileintel,
    outbox_rows,
    stream_entries,
    unpublished,
    wait_for,
)

MOVES = 20


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``fileintel relay`` configures logging for the process: undo it after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def relay_process(
    db_url: str, redis_url: str, stream: str, log: Path, crash: bool
) -> subprocess.Popen[bytes]:
    """``fileintel relay`` on this database and stream, optionally with the crash switch."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEINTEL_")}
    env["FILEINTEL_EVENTS_STREAM"] = stream
    if crash:
        env[CRASH_AFTER_PUBLISH_ENV] = "1"
    args = fileintel(
        "--database-url", db_url, "--events-url", redis_url, "relay", "--poll-interval", "0.1"
    )
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_relay_killed_after_publishing_publishes_again_and_a_deduping_consumer_sees_once(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    stream = f"{redis_prefix}events"
    cid = busy_collection(engine, "crashy")
    cycle(engine, cid, MOVES)
    log = tmp_path / "relay.log"

    crashing = relay_process(db_url, redis_url, stream, log, crash=True)
    assert crashing.wait(30) == CRASH_EXIT_CODE, log.read_text()
    assert len(stream_entries(redis_url, stream)) == MOVES + 1, "published before the crash"
    assert unpublished(engine) == MOVES + 1, "but never marked"

    relay = relay_process(db_url, redis_url, stream, log, crash=False)
    try:
        wait_for(lambda: unpublished(engine) == 0, 30, "the restarted relay to publish")
    finally:
        relay.send_signal(signal.SIGTERM)
        code = relay.wait(15)
    assert code == 0, log.read_text()

    entries = stream_entries(redis_url, stream)
    assert len(entries) == 2 * (MOVES + 1), "the stream holds every event twice"
    seen: set[str] = set()
    seqs = []
    for entry in entries:
        if entry["event_id"] not in seen:
            seen.add(entry["event_id"])
            seqs.append(int(entry["seq"]))
    assert seqs == list(range(1, MOVES + 2))


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
