"""``collections watch``: follows a collection until it ends, from the database or the stream."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Engine, select, update

from fileintel.cli import main
from fileintel.db import db_now, make_engine, write_tx
from fileintel.errors import BrokerError
from fileintel.messaging.broker import build_broker
from fileintel.models.events import new_event_id
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import collections_t
from fileintel.outbox.follow import StreamFollower, follow_collection, follow_status_events
from fileintel.outbox.relay import build_relay
from fileintel.store.outbox_rows import add_event
from fileintel.store.transitions import transition
from tests.helpers import wait_for
from tests.outbox.support import busy_collection, settings_for
from tests.processes import clean_env, start_process

S = CollectionStatus


def move(engine: Engine, cid: str, *targets: CollectionStatus) -> None:
    """Make these status changes, one transaction each."""
    for target in targets:
        with write_tx(engine) as conn:
            run = {"new_run_id": "run-1"} if target is S.QUEUED else {}
            transition(conn, cid, target, actor="test", message=f"to {target}", **run)  # type: ignore[arg-type]


def start_watch(
    db_url: str, name: str, out: Path, events_url: str | None = None, stream: str = ""
) -> subprocess.Popen[bytes]:
    """``fileintel collections watch NAME`` writing to ``out``."""
    env = clean_env()
    args = ["--database-url", db_url]
    if events_url:
        args += ["--events-url", events_url]
        env["FILEINTEL_EVENTS_STREAM"] = stream
    return start_process([*args, "collections", "watch", name], env, out)


def test_watch_follows_the_database_until_the_collection_ends(
    sqlite_url: str, tmp_path: Path
) -> None:
    from fileintel.db import make_engine

    engine = make_engine(sqlite_url)
    cid = busy_collection(engine, "polled")
    out = tmp_path / "watch.out"
    watcher = start_watch(sqlite_url, "polled", out)
    try:
        wait_for(lambda: "polled is created" in out.read_text(), 30, "the first look")
        move(engine, cid, S.QUEUED, S.PROCESSING, S.COMPLETED_WITH_ERRORS)
        code = watcher.wait(30)
    finally:
        watcher.kill() if watcher.poll() is None else None
        engine.dispose()
    lines = out.read_text().splitlines()
    assert code == 3, lines
    assert [line.split()[1:4] for line in lines[1:]] == [
        ["created", "->", "queued"],
        ["queued", "->", "processing"],
        ["processing", "->", "completed_with_errors"],
    ]
    assert "(seq 4, by test): to completed_with_errors" in lines[-1]


def test_watch_follows_the_stream_with_document_events(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    from fileintel.db import make_engine

    stream = f"{redis_prefix}events"
    engine = make_engine(pg_url)
    settings = settings_for(pg_url, events_url=redis_url, events_stream=stream)
    relay = build_relay(settings, engine, broker=build_broker("stub://"), poll_seconds=0.05)
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run_forever, args=(stop,))
    relay_thread.start()
    cid = busy_collection(engine, "streamed")
    out = tmp_path / "watch.out"
    watcher = start_watch(pg_url, cid, out, redis_url, stream)
    try:
        wait_for(lambda: "streamed is created" in out.read_text(), 30, "the first look")
        move(engine, cid, S.QUEUED, S.PROCESSING)
        with write_tx(engine) as conn:
            add_event(
                conn,
                "document.done",
                cid,
                {
                    "event_id": new_event_id(),
                    "type": "document.done",
                    "collection_id": cid,
                    "document_id": 11,
                    "path": "/data/a.txt",
                    "error": None,
                    "documents": {"total": 1, "done": 1, "failed": 0, "skipped": 0},
                    "at": "2030-01-01T00:00:00Z",
                },
            )
        move(engine, cid, S.COMPLETED)
        code = watcher.wait(30)
    finally:
        watcher.kill() if watcher.poll() is None else None
        stop.set()
        relay.wake()
        relay_thread.join(5)
        engine.dispose()
    lines = out.read_text().splitlines()
    assert code == 0, lines
    assert "document.done document 11 /data/a.txt  [done 1, failed 0, skipped 0 of 1]" in lines[3]
    assert lines[-1].split()[1:4] == ["processing", "->", "completed"]
    assert len(lines) == 5, lines


def test_watch_without_a_running_relay_falls_back_to_the_database(
    sqlite_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    from fileintel.db import make_engine

    engine = make_engine(sqlite_url)
    cid = busy_collection(engine, "no-relay")
    out = tmp_path / "watch.out"
    watcher = start_watch(sqlite_url, "no-relay", out, redis_url, f"{redis_prefix}events")
    try:
        wait_for(lambda: "no-relay is created" in out.read_text(), 30, "the first look")
        move(engine, cid, S.QUEUED, S.FAILED)
        code = watcher.wait(30)
    finally:
        watcher.kill() if watcher.poll() is None else None
        engine.dispose()
    lines = out.read_text().splitlines()
    assert code == 1, lines
    assert lines[-1].split()[1:4] == ["queued", "->", "failed"]


def test_watch_of_a_finished_collection_prints_its_state_and_exits_with_its_code(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = busy_collection(engine, "done-already")
    move(engine, cid, S.QUEUED, S.CANCELLED)

    code = main(["--database-url", db_url, "collections", "watch", "done-already"])

    assert code == 1
    assert capsys.readouterr().out.strip() == "done-already is cancelled (seq 3): to cancelled"
    assert main(["--database-url", db_url, "collections", "watch", "nope"]) == 1


def test_follow_status_events_yields_new_history_rows_in_order(engine: Engine) -> None:
    cid = busy_collection(engine, "followed")
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def follow() -> None:
        for event in follow_status_events(engine, cid, 1, 0.02, stop):
            seen.append((event["seq"], event["to"]))
            if event["to"] == "completed":
                stop.set()

    thread = threading.Thread(target=follow)
    thread.start()
    move(engine, cid, S.QUEUED, S.PROCESSING, S.COMPLETED)
    thread.join(10)
    assert not thread.is_alive()
    assert seen == [(2, "queued"), (3, "processing"), (4, "completed")]


class BrokenStream:
    """A stream follower whose Redis went away."""

    def read(self, block_ms: int = 500) -> list[dict[str, object]]:
        """Fail like a lost connection."""
        raise BrokerError("reading the events stream failed: connection refused")


def test_following_goes_on_from_the_database_when_the_stream_fails(engine: Engine) -> None:
    cid = busy_collection(engine, "stream-lost")
    move(engine, cid, S.QUEUED, S.PROCESSING)
    stop = threading.Event()
    broken = cast(StreamFollower, BrokenStream())
    events = follow_collection(engine, cid, 2, stop, stream=broken, poll_seconds=0.02)
    assert next(events)["to"] == "processing"
    move(engine, cid, S.COMPLETED)
    assert next(events)["to"] == "completed"
    stop.set()


def test_a_quiet_watch_says_what_it_waits_for_and_speaks_json(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A queued collection nobody starts: watch names the wait (no silent hang), in text and
    as JSON lines, then ends with the collection."""
    engine = make_engine(sqlite_url)
    cid = busy_collection(engine, "quiet")
    move(engine, cid, S.QUEUED)
    with write_tx(engine) as conn:  # requested a minute ago, never started
        then = conn.execute(select(db_now())).scalar_one() - dt.timedelta(minutes=1)
        conn.execute(
            update(collections_t).where(collections_t.c.id == cid).values(status_updated_at=then)
        )
    text_out, json_out = tmp_path / "text.out", tmp_path / "json.out"
    env = clean_env()
    watchers = [
        start_process(
            ["--database-url", sqlite_url, "collections", "watch", "quiet"], env, text_out
        ),
        start_process(
            ["--database-url", sqlite_url, "collections", "watch", "quiet", "--json"], env, json_out
        ),
    ]
    try:
        wait_for(
            lambda: "waiting: " in text_out.read_text() and '"waiting"' in json_out.read_text(),
            60,
            "both watches to say what they wait for",
        )
        move(engine, cid, S.CANCELLED)
        codes = [w.wait(30) for w in watchers]
    finally:
        for w in watchers:
            w.kill() if w.poll() is None else None
        engine.dispose()
    assert codes == [1, 1]
    text = text_out.read_text()
    assert "[run_not_started]" in text or "[no_worker]" in text, text
    objects = [
        json.loads(line) for line in json_out.read_text().splitlines() if line.startswith("{")
    ]
    waiting = [o for o in objects if o.get("type") == "waiting"]
    assert waiting and {"code", "message"} <= set(waiting[0]["warnings"][0])
    assert objects[-1]["to"] == "cancelled" and objects[-1]["seq"] == 3
