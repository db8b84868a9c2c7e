"""Process heartbeats: which workers, relays and schedulers are alive, and since when.

Each long-running process upserts one row every few seconds; ``doctor`` and the status
warnings read them ("no worker seen for 2 minutes"). A process that stops deletes its row,
and a row of this machine whose process no longer exists is not counted: an ``ingest`` that
ended a moment ago is not a live worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from fileintel.db import db_now, write_tx
from fileintel.models.tables import process_heartbeats_t

log = logging.getLogger("fileintel.heartbeats")

HEARTBEAT_INTERVAL_SECONDS = 10.0
#: A process not seen for this long is considered gone.
SEEN_RECENTLY_SECONDS = 60.0


def process_id(kind: str) -> str:
    """This process's heartbeat id: kind@host:pid."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


def beat(conn: Connection, kind: str, info: dict[str, Any] | None = None) -> None:
    """Record that this process is alive (insert on first beat, update after)."""
    t = process_heartbeats_t
    pid = process_id(kind)
    values: dict[str, Any] = {"seen_at": db_now(), "info": info or {}}
    if conn.execute(update(t).where(t.c.id == pid).values(values)).rowcount == 0:
        conn.execute(
            t.insert().values(
                id=pid,
                kind=kind,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=db_now(),
                **values,
            )
        )


def forget(conn: Connection, kind: str) -> None:
    """Delete this process's row of ``kind`` (it stops)."""
    t = process_heartbeats_t
    conn.execute(delete(t).where(t.c.id == process_id(kind)))


def _exists(hostname: str, pid: int) -> bool:
    """False only when the process is known to be gone (it ran on this machine)."""
    if hostname != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def seen_recently(
    conn: Connection, kind: str, within: float = SEEN_RECENTLY_SECONDS
) -> list[dict[str, Any]]:
    """Processes of ``kind`` seen within ``within`` seconds and not known to be gone."""
    t = process_heartbeats_t.c
    rows = conn.execute(
        select(t.id, t.seen_at, t.info, t.hostname, t.pid).where(
            t.kind == kind, t.seen_at > db_now(-within)
        )
    )
    return [
        {"id": r.id, "seen_at": r.seen_at, "info": r.info}
        for r in rows
        if _exists(r.hostname, r.pid)
    ]


class HeartbeatThread:
    """Beats in the background until stopped (for daemons whose loop blocks elsewhere)."""

    def __init__(self, engine: Engine, kind: str, interval: float = HEARTBEAT_INTERVAL_SECONDS):
        self.engine, self.kind, self.interval = engine, kind, interval
        self.info: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{kind}-heartbeat", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                with write_tx(self.engine) as conn:
                    beat(conn, self.kind, self.info)
            except Exception as e:
                log.warning("heartbeat failed: %s", e)
            if self._stop.wait(self.interval):
                return

    def start(self) -> HeartbeatThread:
        """Start beating now."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating, and delete the row: a stopped process is not alive."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            with write_tx(self.engine) as conn:
                forget(conn, self.kind)
        except Exception as e:
            log.warning("could not delete the heartbeat of this %s: %s", self.kind, e)
