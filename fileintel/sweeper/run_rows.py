"""A run as the run rules read it: the columns they need, and which statuses are open.

Shared by the two queries that find runs (``runs.runs_needing_attention`` and
``audit.runs_disagreeing``), so ``runs.recover_run`` can decide on a row from either.
"""

from __future__ import annotations

from typing import Any

from fileintel.models.states import CollectionStatus, RunStatus
from fileintel.models.tables import collections_t, runs_t

OPEN_RUN = [RunStatus.QUEUED.value, RunStatus.PROCESSING.value]
OPEN_COLLECTION = [CollectionStatus.QUEUED.value, CollectionStatus.PROCESSING.value]


def run_columns() -> list[Any]:
    """What ``runs.recover_run`` needs of a run and its collection."""
    r, c = runs_t.c, collections_t.c
    return [
        r.id,
        r.collection_id,
        r.status,
        r.deadline_at,
        r.heartbeat_at,
        r.requested_at,
        r.documents_total,
        r.documents_done,
        r.documents_failed,
        r.documents_skipped,
        c.status.label("collection_status"),
    ]
