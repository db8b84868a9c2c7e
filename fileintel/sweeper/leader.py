"""One active sweeper at a time: a lock held for as long as its holder lives.

On PostgreSQL it is a session advisory lock on a dedicated connection: if the holder dies,
its connection closes and the lock is free for a standby at its next try. On SQLite (one
machine by construction) an exclusive ``flock`` on a file beside the database does the same.
Sweeps are safe to run twice anyway; the lock only saves work and keeps logs readable.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

#: Arbitrary, fixed key of the sweep lock (pg_advisory_lock takes a bigint).
SWEEP_LOCK_KEY = 0x46494C45_5357  # "FILESW"


class LeaderLock:
    """Try-acquire a process-lifetime lock; ``held`` tells whether this process leads."""

    def __init__(self, engine: Engine, name: str = "sweep"):
        self.engine = engine
        self.name = name
        self.held = False
        self._conn: Any = None
        self._file: Any = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it (now or already)."""
        if self.held:
            if self.engine.dialect.name == "postgresql" and not self._still_connected():
                self.release()
            else:
                return True
        if self.engine.dialect.name == "postgresql":
            self._conn = self.engine.raw_connection()
            self._conn.detach()  # closing it must end the session, not return it to the pool
            self._conn.dbapi_connection.autocommit = True
            cur = self._conn.cursor()
            cur.execute("SELECT pg_try_advisory_lock(%s)", (SWEEP_LOCK_KEY,))
            self.held = bool(cur.fetchone()[0])
            cur.close()
            if not self.held:
                self._conn.close()
                self._conn = None
        else:
            path = Path(str(self.engine.url.database) + f".{self.name}.lock")
            self._file = path.open("a+")
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.held = True
                self._file.seek(0)
                self._file.truncate()
                self._file.write(f"{os.getpid()}\n")
                self._file.flush()
            except BlockingIOError:
                self._file.close()
                self._file = None
        return self.held

    def _still_connected(self) -> bool:
        try:
            cur = self._conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            return True
        except Exception:
            return False

    def release(self) -> None:
        """Give the lock up (closing the connection or file releases it)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self.held = False


def lock_holder_exists(engine: Engine) -> bool | None:
    """Whether some process holds the sweep lock (None when it cannot be told)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"key": SWEEP_LOCK_KEY},
            ).scalar_one()
        )
