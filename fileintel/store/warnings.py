"""Derived warnings: "stuck" is not a state, it is something we notice and explain.

Each rule looks at figures already at hand (the collection row, its current run's counters)
so that ``status`` and ``list`` stay cheap whatever the collection's size. Every warning has
a stable ``code`` for scripts and a ``message`` that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fileintel.models.states import CollectionStatus


@dataclass(frozen=True)
class Warning:
    """One thing that looks wrong, and what to do about it."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` object of the JSON outputs."""
        return {"code": self.code, "message": self.message}


def counter_warnings(collection: Any, run: Any | None) -> list[Warning]:
    """Warnings from status and counters alone (no extra queries).

    ``collection`` has the collections columns; ``run`` the current run's, or None.
    """
    found: list[Warning] = []
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
            Warning(
                "counters_disagree",
                f"document counters add up to {by_state}, not {collection.documents_total}; "
                "run 'fileintel sweep' to repair",
            )
        )
    if run is not None:
        finished = run.documents_done + run.documents_failed + run.documents_skipped
        if status is CollectionStatus.PROCESSING and finished >= run.documents_total:
            found.append(
                Warning(
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
                Warning(
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
            Warning(
                "unprocessed_documents",
                f"{collection.documents_pending} documents were added after the last run; "
                f"run 'fileintel collections process {collection.name}'",
            )
        )
    return found
