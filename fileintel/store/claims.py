"""A claim: one attempt of one run owning one document, under a lease."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Claim:
    """A document owned by one attempt of one run, under a lease.

    Every write a worker makes with it is fenced on (run, document, attempt, state):
    ``StaleRun`` once the attempt was superseded or the run cancelled.
    """

    run_id: str
    document_id: int
    attempt: int
    collection_id: str
    collection_name: str
    path: str
    media_type: str
    sha256: str
    options: dict[str, Any]
    lease_expires_at: dt.datetime
    #: Whether the document had chunks (from an earlier run) when it was claimed; when
    #: unknown, True: the finish then deletes whatever the document has.
    had_chunks: bool = True
