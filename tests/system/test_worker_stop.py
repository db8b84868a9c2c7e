"""``fileintel worker`` stopped as a supervisor stops it: SIGTERM to its whole process group
(systemd's default, honcho, ``kill -- -PGID``) reaches Dramatiq's parent and its worker
process at once, and the parent forwards it again. The worker must drain: the document in
flight is finished by its own attempt and the process exits 0. Before, the forwarded signal,
when it arrived after the first had been handled, made Dramatiq kill the worker process
(exit 1) and the document waited for its lease. The test sends that second signal itself,
a moment after the first, so the race is not left to chance.

No scheduler runs here, so nothing but the worker itself could finish that document."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from fileintel.db import make_engine
from tests.helpers import invariant_h_and_o, wait_for
from tests.processes import children_of, cli_env, logs_of
from tests.services import need
from tests.system.test_sweeper_recovery import (
    FAST,
    WORKER,
    add_and_process,
    chunks_per_document,
    documents_by_path,
    flush_redis,
    make_files,
    processes,
    relay_available,
)

pytestmark = pytest.mark.slow

#: A Redis database of this test's own on the shared server, flushed before use.
REDIS_BROKER_URL = "redis://127.0.0.1:6379/9"


def test_sigterm_to_the_worker_group_drains_the_document_in_flight(
    pg_url: str, tmp_path: Path
) -> None:
    need("redis")
    relay_available()
    flush_redis(REDIS_BROKER_URL)
    files = make_files(tmp_path / "docs", {"a-small.txt": 20_000, "z-big.txt": 8_000_000})
    big = str((files.root / "z-big.txt").resolve())
    env = cli_env(pg_url, REDIS_BROKER_URL, FAST)
    engine = make_engine(pg_url)
    try:
        with processes({"relay": ["relay"], "worker": WORKER}, env, tmp_path) as running:
            collection_id = add_and_process(env, "stopped-worker", files.root)

            def big_in_flight() -> bool:
                row = documents_by_path(engine, collection_id).get(big)
                return row is not None and row.state == "processing"

            wait_for(big_in_flight, timeout=90, what="the big document in flight", interval=0.02)
            worker = running["worker"]
            (child,) = children_of(worker.pid)
            os.killpg(worker.pid, signal.SIGTERM)
            time.sleep(0.3)  # the parent's forward, once the first signal has been handled
            os.kill(child, signal.SIGTERM)
            code = worker.wait(60)
            log = (tmp_path / "worker.log").read_text(errors="replace")
        row = documents_by_path(engine, collection_id)[big]
        assert code == 0, f"worker exited {code}\n{logs_of(tmp_path)}"
        assert "Killing worker process" not in log
        assert row.state == "done" and row.attempt == 1, (row.state, row.attempt)
        assert chunks_per_document(engine, collection_id)[big] == files.chunks[big]
        invariant_h_and_o(engine, collection_id)
    finally:
        engine.dispose()
