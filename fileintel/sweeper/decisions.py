"""Every decision the sweeper can make, and the shape of one decision.

The values are the names written in ``run_notes.decision``, counted in
``SweepResult.decisions``, used as the ``fileintel_sweeper_decisions_total`` metric label and
logged: they are an interface, so a member's value never changes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from sqlalchemy.engine import Connection


class Decision(enum.StrEnum):
    """What the sweeper did to one document or run, named by the rule that decided it."""

    #: ``expired_leases``: back to ``pending`` as the next attempt, dispatched again.
    REDISPATCH_EXPIRED = "redispatch_expired"
    #: ``expired_leases``: attempts used up, the document is ``failed``.
    FAIL_DOCUMENT = "fail_document"
    #: ``lost_dispatches``: dispatched, never claimed; dispatched again as the next attempt.
    REDISPATCH_UNCLAIMED = "redispatch_unclaimed"
    #: ``runs``: queued, never started; its start message sent again.
    REDISPATCH_START = "redispatch_start"
    #: ``runs``: open past its deadline; run and collection ``failed``.
    FAIL_DEADLINE = "fail_deadline"
    #: ``runs``: processing with every document finished; closed from its counters.
    FINALIZE = "finalize"
    #: ``audit``: run and collection disagreed on open/closed; the open side follows.
    REPAIR = "repair"


#: One decision on one item: runs in the caller's transaction and returns what it decided,
#: or None when the item no longer needs it (another sweep or a worker got there first).
Decide = Callable[[Connection], Decision | None]
