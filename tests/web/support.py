"""Helpers of the web tests: a real ``fileintel web`` process, an SSE client, the app in
this process (Starlette's test client, on the real database)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import wait_for
from tests.processes import cli_env, logs_of, start_process, stop_process


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebServer:
    """A running ``fileintel web``."""

    proc: subprocess.Popen[bytes]
    url: str
    logs: Path


@contextmanager
def web_server(db_url: str, logs: Path, extra: dict[str, str] | None = None) -> Iterator[WebServer]:
    """``fileintel web`` on a free port of 127.0.0.1 until the block ends."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    proc = start_process(
        ["web", "--port", str(port)], cli_env(db_url, extra=extra), logs / "web.log"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: _answers(url), 30, "fileintel web to answer", details=lambda: logs_of(logs)
        )
        yield WebServer(proc, url, logs)
    finally:
        stop_process(proc)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/outbox", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class SseClient:
    """Reads ``/api/events`` in a thread; ``events`` is (id, payload) in arrival order."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> SseClient:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_for(self.connected.is_set, 15, f"the event stream {self.url}")
        return self

    def _read(self) -> None:
        # No read timeout: the stream ends when the server stops (the test's block ends).
        with contextlib.suppress(httpx.RemoteProtocolError, httpx.ReadError):
            self._read_stream()

    def _read_stream(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(5.0, read=None)) as client,
            client.stream("GET", self.url, headers=self.headers) as response,
        ):
            response.raise_for_status()
            self.connected.set()
            event_id: int | None = None
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: ") and event_id is not None:
                    self.events.append((event_id, json.loads(line[6:])))

    def stop(self) -> None:
        """Stop at the next line (the thread ends with the server at the latest)."""
        self._stop.set()
