"""The embedded leader lock: an exclusive ``flock`` on a file beside the SQLite database.

The kernel releases it when its holder's file closes, which a dying process does: a
standby takes it at its next try, as with PostgreSQL's session advisory lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class FileLock:
    """An exclusive ``flock`` held while the file stays open (one machine by construction)."""

    def __init__(self, path: Path):
        self.path = path
        self.held = False
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (now or already)."""
        if self.held:
            return True
        self._file = self.path.open("a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            return False
        self.held = True
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()
        return True

    def release(self) -> None:
        """Closing the file releases the lock."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.held = False
