"""The web application served by uvicorn in a process of its own (spawned, so it shares no
interpreter lock with the benchmark's clients) on a free port of 127.0.0.1, with every
statement its engine sends to the database counted."""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

START_TIMEOUT_SECONDS = 60


@dataclass
class Served:
    """The running server: its base URL and its statement counter."""

    url: str
    counter: Any

    @property
    def queries(self) -> int:
        return int(self.counter.value)


def _serve(url: str, port: int, counter: Any) -> None:  # runs in the spawned process
    import uvicorn
    from sqlalchemy import event

    from fileintel.config import Settings
    from fileintel.db import make_engine
    from fileintel.web.app import create_app

    engine = make_engine(url)

    def count(*_: Any) -> None:
        with counter.get_lock():
            counter.value += 1

    event.listen(engine, "before_cursor_execute", count)
    config = uvicorn.Config(
        create_app(Settings(database_url=url), engine),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
        access_log=False,
    )
    uvicorn.Server(config).run()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/outbox", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve(url: str) -> Iterator[Served]:
    """``fileintel web``'s application on the database at ``url`` until the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("q", 0)
    proc = ctx.Process(target=_serve, args=(url, port, counter), daemon=True)
    proc.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _answers(base):
        if time.monotonic() > deadline or not proc.is_alive():
            proc.terminate()
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield Served(base, counter)
    finally:
        proc.terminate()  # SIGTERM: uvicorn's graceful shutdown
        proc.join(15)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
