"""The real ``fileintel relay`` process killed between publishing and committing.

(The ``outbox`` commands through the CLI entry point are in ``tests/cli/test_outbox_status.py``.)
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from sqlalchemy import Engine

from fileintel.outbox.relay import CRASH_AFTER_PUBLISH_ENV, CRASH_EXIT_CODE
from tests.helpers import wait_for
from tests.outbox.support import busy_collection, cycle, stream_entries, unpublished
from tests.processes import clean_env, start_process

MOVES = 20


def relay_process(
    db_url: str, redis_url: str, stream: str, log: Path, crash: bool
) -> subprocess.Popen[bytes]:
    """``fileintel relay`` on this database and stream, optionally with the crash switch."""
    env = clean_env({"FILEINTEL_EVENTS_STREAM": stream})
    if crash:
        env[CRASH_AFTER_PUBLISH_ENV] = "1"
    args = ["--database-url", db_url, "--events-url", redis_url, "relay", "--poll-interval", "0.1"]
    return start_process(args, env, log)


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
