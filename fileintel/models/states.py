"""The state machines: collection statuses, run statuses and document states.

This module only *describes* states and legal moves; ``fileintel.store.transitions`` is the
one place that changes a collection's status, and it asks ``allowed_sources`` which states a
move may start from. Each state's docstring says which component moves a collection out of it.
"""

from __future__ import annotations

import enum


class CollectionStatus(enum.StrEnum):
    """Where a collection is in its processing life."""

    CREATED = "created"
    """Registered, never processed. Left by ``collections process`` / ``ingest`` (→ queued)."""

    QUEUED = "queued"
    """A run was requested and its start message committed to the outbox. Left by the
    ``start_run`` actor (→ processing), by ``cancel`` (→ cancelled), or by the sweeper
    (→ failed, or re-dispatch) when no worker starts it."""

    PROCESSING = "processing"
    """A worker started the run. Left by the worker that finishes the last document
    (→ completed | completed_with_errors | failed), by ``cancel`` (→ cancelled), or by the
    sweeper when leases expire past the retry budget or the run deadline passes (→ failed)."""

    COMPLETED = "completed"
    """Terminal: every document of the run was processed or skipped. Left only by a new
    request (``process``/``retry``, → queued)."""

    COMPLETED_WITH_ERRORS = "completed_with_errors"
    """Terminal: some documents failed, others succeeded. Left by ``retry`` or ``process``."""

    FAILED = "failed"
    """Terminal: nothing succeeded, or the run itself failed. Left by ``retry`` or ``process``."""

    CANCELLED = "cancelled"
    """Terminal: a user cancelled the run. Left by ``process`` or ``retry``."""

    @property
    def is_terminal(self) -> bool:
        """True for the states only a new request moves a collection out of."""
        return self in TERMINAL_STATUSES

    @property
    def description(self) -> str:
        """A one-line, human description (shown by ``collections status``)."""
        return STATUS_DESCRIPTIONS[self]


TERMINAL_STATUSES = frozenset(
    {
        CollectionStatus.COMPLETED,
        CollectionStatus.COMPLETED_WITH_ERRORS,
        CollectionStatus.FAILED,
        CollectionStatus.CANCELLED,
    }
)

STATUS_DESCRIPTIONS: dict[CollectionStatus, str] = {
    CollectionStatus.CREATED: "Created; add documents and request processing",
    CollectionStatus.QUEUED: "Processing requested; waiting for a worker to start the run",
    CollectionStatus.PROCESSING: "Documents are being processed",
    CollectionStatus.COMPLETED: "All documents processed successfully",
    CollectionStatus.COMPLETED_WITH_ERRORS: "Processed, but some documents failed (see documents)",
    CollectionStatus.FAILED: "Processing failed (see the status message and documents)",
    CollectionStatus.CANCELLED: "Processing was cancelled",
}

_S = CollectionStatus

#: Every legal move, target by source. The history of a collection is a path through this.
TRANSITIONS: dict[CollectionStatus | None, frozenset[CollectionStatus]] = {
    None: frozenset({_S.CREATED}),
    _S.CREATED: frozenset({_S.QUEUED}),
    _S.QUEUED: frozenset({_S.PROCESSING, _S.FAILED, _S.CANCELLED}),
    _S.PROCESSING: frozenset({_S.COMPLETED, _S.COMPLETED_WITH_ERRORS, _S.FAILED, _S.CANCELLED}),
    _S.COMPLETED: frozenset({_S.QUEUED}),
    _S.COMPLETED_WITH_ERRORS: frozenset({_S.QUEUED}),
    _S.FAILED: frozenset({_S.QUEUED}),
    _S.CANCELLED: frozenset({_S.QUEUED}),
}


#: The states a collection rests in (no run open). Only these may be *amended*: a change
#: to the collection that keeps its status (documents removed) is recorded as a history row
#: ``S → S`` with its event, so history stays the complete record. They are not in
#: ``TRANSITIONS``: a run-scoped writer (a finisher, the sweeper) moving a collection to
#: the state it already has must still be refused.
RESTING_STATUSES = frozenset({CollectionStatus.CREATED, *TERMINAL_STATUSES})


def is_allowed(source: CollectionStatus | None, target: CollectionStatus) -> bool:
    """True when the state machine allows ``source → target`` (an amendment included)."""
    if source is not None and source == target and source in RESTING_STATUSES:
        return True
    return target in TRANSITIONS.get(source, frozenset())


def allowed_sources(target: CollectionStatus) -> list[CollectionStatus]:
    """The states a collection may be in for a move to ``target`` (stable order)."""
    return [s for s in CollectionStatus if target in TRANSITIONS[s]]


class RunStatus(enum.StrEnum):
    """A run's own status; it mirrors the collection's while the run is current."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True once the run has ended, one way or another."""
        return self not in (RunStatus.QUEUED, RunStatus.PROCESSING)


class DocumentState(enum.StrEnum):
    """A document's state within the collection's current (or last) run."""

    PENDING = "pending"
    """Waiting to be processed by the current run (or never processed yet)."""
    PROCESSING = "processing"
    """Claimed by a worker under a lease; left by that worker, or by the sweeper on expiry."""
    DONE = "done"
    """Chunks, embeddings and metadata written."""
    FAILED = "failed"
    """Processing failed for good; ``error`` says why."""
    SKIPPED = "skipped"
    """Unchanged (content and options) since its last ``done``; nothing to do."""

    @property
    def is_finished(self) -> bool:
        """True for states that count towards the end of a run."""
        return self in (DocumentState.DONE, DocumentState.FAILED, DocumentState.SKIPPED)


def final_status(done: int, failed: int, skipped: int) -> CollectionStatus:
    """The terminal status a run earns from its finished-document counters."""
    succeeded = done + skipped
    if failed == 0:
        return CollectionStatus.COMPLETED
    if succeeded == 0:
        return CollectionStatus.FAILED
    return CollectionStatus.COMPLETED_WITH_ERRORS
