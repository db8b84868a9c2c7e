"""One active sweeper at a time: a lock held for as long as its holder lives.

The backend provides the lock (a session advisory lock on PostgreSQL, an ``flock`` beside
the SQLite file): if the holder dies, the lock is free for a standby at its next try.
Sweeps are safe to run twice anyway; the lock only saves work and keeps logs readable.
"""

from __future__ import annotations

from sqlalchemy import Engine

from fileintel.backends import backend_for

#: The name of the sweeper's lock.
SWEEP_LOCK = "sweep"


class LeaderLock:
    """Try-acquire a process-lifetime lock; ``held`` tells whether this process leads."""

    def __init__(self, engine: Engine, name: str = SWEEP_LOCK):
        self.engine = engine
        self.name = name
        self.held = False
        self._lock = backend_for(engine).session_lock(engine, name)

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it (now or already)."""
        self.held = self._lock.try_acquire()
        return self.held

    def release(self) -> None:
        """Give the lock up."""
        self._lock.release()
        self.held = False


def lock_holder_exists(engine: Engine, name: str = SWEEP_LOCK) -> bool | None:
    """Whether some process holds the sweep lock (None when it cannot be told)."""
    return backend_for(engine).lock_holder_exists(engine, name)
