"""Restarts that lost messages or claims: re-send at once instead of after the timeout.

Two restarts lose work that the database still records as dispatched and unclaimed:

- the Redis broker restarted without persistence: every message published before it is
  gone (``messaging.broker_uptime``);
- the database crashed: a worker's claim commits without waiting for the WAL flush, so a
  claim acknowledged shortly before the crash may be rolled back, leaving the document
  ``pending`` and its message consumed (``Backend.server_started_at``).

Either way a document still ``pending`` that was dispatched before the restart may never
be claimed, and a run still ``queued`` may never be started. ``lost_before`` returns the
latest restart, which the sweep uses as the "dispatched before" bound of the two
"message lost?" rules when it is later than ``now - dispatch timeout``. A message that did
survive (a deep queue, a persistent broker) is sent once more: the re-send is the next
attempt, so the older message's claim is refused, and the document is processed once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from fileintel.backends import backend_for


@dataclass(frozen=True)
class Restart:
    """A restart after which unclaimed dispatches may be lost."""

    at: dt.datetime
    what: str


def lost_before(conn: Connection, now: dt.datetime, broker_uptime: float | None) -> Restart | None:
    """The latest restart of the broker or the database (None when neither can be told)."""
    found: list[Restart] = []
    if broker_uptime is not None:
        found.append(Restart(now - dt.timedelta(seconds=broker_uptime), "the broker restarted"))
    database_start = backend_for(conn).server_started_at(conn)
    if database_start is not None:
        found.append(Restart(database_start, "the database restarted"))
    return max(found, key=lambda r: r.at, default=None)
