"""Derived warnings: "stuck" is not a state, it is something we notice and explain.

Each rule looks at figures already at hand (the collection row, its current run's counters)
so that ``status`` and ``list`` stay cheap whatever the collection's size. Every warning has
a stable ``code`` for scripts and a ``message`` that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fileintel.models.states import CollectionStatus
from fileintel.store.liveness import (
    OUTBOX_LAG_WARNING_SECONDS,
    UNCLAIMED_WARNING_SECONDS,
    LivenessFacts,
    open_collection,
)


@dataclass(frozen=True)
class StatusWarning:
    """One thing that looks wrong, and what to do about it."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` object of the JSON outputs."""
        return {"code": self.code, "message": self.message}


def counter_warnings(collection: Any, run: Any | None) -> list[StatusWarning]:
    """Warnings from status and counters alone (no extra queries).

    ``collection`` has the collections columns; ``run`` the current run's, or None.
    """
    found: list[StatusWarning] = []
    status = CollectionStatus(collection.status)
    by_state = (
        collection.documents_pending
        + collection.documents_processing
        + collection.documents_done
        + collection.documents_failed
        + collection.documents_skipped
    )
    if by_state != collection.documents_total:
        found.append(
            StatusWarning(
                "counters_disagree",
                f"document counters add up to {by_state}, not {collection.documents_total}; "
                "run 'fileintel sweep' to repair",
            )
        )
    if run is not None:
        finished = run.documents_done + run.documents_failed + run.documents_skipped
        if status is CollectionStatus.PROCESSING and finished >= run.documents_total:
            found.append(
                StatusWarning(
                    "counters_disagree",
                    f"all {run.documents_total} documents of run {run.id} are finished but "
                    "the collection is still processing; the sweeper finalises it "
                    "(or run 'fileintel sweep')",
                )
            )
        if (
            status.is_terminal
            and status is not CollectionStatus.CANCELLED
            and (finished < run.documents_total)
        ):
            found.append(
                StatusWarning(
                    "counters_disagree",
                    f"the collection is {status.value} but {run.documents_total - finished} "
                    f"documents of run {run.id} are unfinished",
                )
            )
    if (
        status.is_terminal
        and collection.documents_pending > 0
        and (run is None or status is not CollectionStatus.CANCELLED)
    ):
        found.append(
            StatusWarning(
                "unprocessed_documents",
                f"{collection.documents_pending} documents were added after the last run; "
                f"run 'fileintel collections process {collection.name}'",
            )
        )
    return found


def _consumer_hint(facts: LivenessFacts) -> str:
    if facts.workers_seen == 0:
        return (
            "no worker is consuming: start 'fileintel worker' (or 'fileintel run' on the "
            "embedded defaults); messages of an in-process broker died with its process "
            "and the sweeper re-sends them"
        )
    return (
        "the workers are busy elsewhere or the broker lost the messages; the sweeper "
        "re-sends unclaimed ones after FILEINTEL_DISPATCH_TIMEOUT_SECONDS"
    )


def _still_warnings(collection: Any, facts: LivenessFacts, in_status: float) -> list[StatusWarning]:
    """An open collection where nothing moves: its run not started, or its documents
    dispatched and not claimed while none is being processed."""
    found: list[StatusWarning] = []
    if collection.status == CollectionStatus.QUEUED and in_status > UNCLAIMED_WARNING_SECONDS:
        found.append(
            StatusWarning(
                "run_not_started",
                f"run requested {in_status:.0f} s ago and not started; {_consumer_hint(facts)}",
            )
        )
    unclaimed = facts.unclaimed.get(collection.id)
    if unclaimed is not None and collection.documents_processing == 0:
        count, age = unclaimed
        found.append(
            StatusWarning(
                "dispatched_not_claimed",
                f"{count:,} document(s) dispatched {age:.0f} s ago and not claimed; "
                + _consumer_hint(facts),
            )
        )
    return found


#: An open collection without a live worker is only worth a warning after this long.
NO_WORKER_GRACE_SECONDS = 15.0


def liveness_warnings(collection: Any, facts: LivenessFacts) -> list[StatusWarning]:
    """Warnings about work that is not moving: expired leases, outbox lag, no workers."""
    found: list[StatusWarning] = []
    expired = facts.expired.get(collection.id)
    if expired is not None:
        count, age = expired
        hint = (
            "the sweeper re-dispatches them"
            if facts.schedulers_seen
            else "no scheduler is running to recover them: start 'fileintel scheduler' "
            "or run 'fileintel sweep'"
        )
        found.append(
            StatusWarning(
                "lease_expired",
                f"{count} document(s) lost their worker (lease expired {age:.0f} s ago); {hint}",
            )
        )
    if not open_collection(collection):
        return found
    if facts.storage is not None:
        found.append(
            StatusWarning(
                "database_disk_full",
                f"{facts.storage}: workers cannot record progress; free space and the run "
                "goes on (nothing committed is lost)",
            )
        )
    lag = facts.outbox.lag_seconds
    if lag is not None and lag > OUTBOX_LAG_WARNING_SECONDS:
        found.append(
            StatusWarning(
                "outbox_not_draining",
                f"{facts.outbox.backlog} outbox message(s) waiting, the oldest for "
                f"{lag:.0f} s; is 'fileintel relay' running? "
                "(see 'fileintel outbox status')",
            )
        )
    in_status = (facts.now - collection.status_updated_at).total_seconds()
    found += _still_warnings(collection, facts, in_status)
    if facts.workers_seen == 0 and in_status > NO_WORKER_GRACE_SECONDS:
        found.append(
            StatusWarning(
                "no_worker",
                "no worker has been seen in the last minute; start 'fileintel "
                "worker' (or 'fileintel run' on the embedded defaults)",
            )
        )
    return found
