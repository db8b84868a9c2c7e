"""How the relay waits between passes: a notification from the database, a ``wake()`` from
this process (the embedded mode after each commit), or the poll interval."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import Engine

from fileintel.backends import Listener, backend_for

log = logging.getLogger("fileintel.relay")

#: The channel the outbox trigger notifies on (migration 0004), with the kinds inserted.
NOTIFY_CHANNEL = "fileintel_outbox"


class Wakeup:
    """Waits for a notification on ``fileintel_outbox``, a ``wake()``, or a timeout.

    The backend's listener (PostgreSQL: a LISTEN connection detached from the pool; none on
    SQLite) is ``select``-ed beside a pipe that ``wake`` writes to. If the listener breaks,
    waits fall back to the timeout and the next wait listens again.
    """

    #: A wait is cut in slices this long so a ``stop`` set elsewhere is noticed soon.
    SLICE_SECONDS = 0.5

    def __init__(self, engine: Engine, quiet: Collection[str] = ()):
        self.engine = engine
        #: Kinds whose notifications do not end a wait (their rows wait for the poll).
        self.quiet = frozenset(quiet)
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._backend = backend_for(engine)
        self._listener: Listener | None = None
        #: False where the database has no notifications (then only the poll and wake()).
        self._can_listen = True
        self._listen()

    def _listen(self) -> None:
        try:
            self._listener = self._backend.listen(self.engine, NOTIFY_CHANNEL)
        except Exception as e:
            log.warning("cannot LISTEN on %s, polling instead: %s", NOTIFY_CHANNEL, e)
            return
        self._can_listen = self._listener is not None

    def wait(self, timeout: float, stop: threading.Event | None = None) -> None:
        """Return on a notification, a ``wake()``, ``stop``, or after ``timeout`` seconds."""
        if self._listener is None and self._can_listen:
            self._listen()  # listening again after a broken connection: look first
            if self._listener is not None:
                return
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._notified():
                    return
                left = deadline - time.monotonic()
                if left <= 0 or (stop is not None and stop.is_set()):
                    return
                fds: list[Any] = [self._read_fd]
                if self._listener is not None:
                    fds.append(self._listener)
                ready, _, _ = select.select(fds, [], [], min(left, self.SLICE_SECONDS))
            except Exception as e:
                log.warning("LISTEN connection lost, polling until it is back: %s", e)
                self._drop_listener()
                return
            if self._read_fd in ready:
                self._drain_pipe()
                return

    def _notified(self) -> bool:
        """Whether a notification arrived that is not only about quiet kinds (an empty
        payload, from a database before migration 0004, always counts)."""
        if self._listener is None:
            return False
        kinds = self._listener.drain()
        return bool(kinds) and not kinds <= self.quiet

    def _drain_pipe(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read_fd, 512):
                pass

    def wake(self) -> None:
        """Cut the current (or next) wait short; safe from a signal handler."""
        with contextlib.suppress(OSError):
            os.write(self._write_fd, b"!")

    def _drop_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:
                log.debug("closing the LISTEN connection failed", exc_info=True)
            self._listener = None

    def close(self) -> None:
        """Stop listening and close the pipe."""
        self._drop_listener()
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
