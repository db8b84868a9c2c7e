"""Keeping the leases of the documents a worker process holds.

A claimed document carries a lease (``documents.lease_expires_at``); the sweeper recovers a
document whose lease ran out, so a worker renews the lease of each document it holds every
``interval`` seconds (``FILEINTEL_HEARTBEAT_SECONDS``) for as long as it processes it.

One thread per process does this for every document the process holds, instead of a thread
started and joined per document: on a busy machine starting and joining a thread cost a
worker about 1.6 ms of each document's time. Each held document is renewed within
``interval`` of its claim and then every ``interval``, in its own small transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from fileintel.db import write_tx
from fileintel.errors import StateError
from fileintel.store.document_work import Claim, renew_lease

log = logging.getLogger("fileintel.worker")


class HeldLease:
    """A document this process is working on; ``lost`` once its claim was taken away."""

    def __init__(self, claim: Claim):
        self.claim = claim
        self.lost = False


class LeaseKeeper:
    """Renews the leases of the documents held through ``holding``, from one thread."""

    def __init__(self, engine: Engine, lease_seconds: float, interval: float):
        self.engine = engine
        self.lease_seconds, self.interval = lease_seconds, interval
        self._held: dict[int, HeldLease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, claim: Claim) -> Iterator[HeldLease]:
        """Keep ``claim``'s lease alive while the block runs."""
        held = HeldLease(claim)
        with self._lock:
            self._held[id(held)] = held
            if self._thread is None:  # started in the process that uses it (after a fork)
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()
        try:
            yield held
        finally:
            with self._lock:
                self._held.pop(id(held), None)

    def renew_all(self) -> int:
        """Renew every held lease once; return how many were renewed."""
        with self._lock:
            leases = list(self._held.values())
        return sum(self._renew(held) for held in leases)

    def _renew(self, held: HeldLease) -> bool:
        try:
            with write_tx(self.engine) as conn:
                renew_lease(conn, held.claim, self.lease_seconds)
            return True
        except StateError as e:
            with self._lock:
                still_held = self._held.pop(id(held), None) is not None
            if still_held:  # not merely finished between the snapshot and the renewal
                held.lost = True
                log.warning("lease lost: %s", e)
        except Exception:
            log.exception("heartbeat of document %s failed; will try again", held.claim.document_id)
        return False

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.renew_all()

    def close(self) -> None:
        """Stop the renewing thread (held leases are no longer renewed)."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join()
