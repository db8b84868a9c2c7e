"""Each database's statements behind one interface, chosen once per engine.

The rules — what a transition, a claim, a finish, a relay pass, the leader lock, a wake-up
and the durability barrier mean — are written once in ``fileintel.store``,
``fileintel.outbox`` and ``fileintel.sweeper`` against ``Backend``. A backend only runs the
statements of one database: ``postgresql`` (named queries in ``postgresql.sql``, prepared
once per connection) and ``sqlite`` (SQLAlchemy Core statements built once, most of them in
``portable``). Nothing outside this package asks which database it talks to.

Adding a backend: implement ``Backend`` in a module here, compile ``db_now`` for it, and add
it to ``_BACKENDS``; the suite's ``db_url`` fixture then runs every database test on it.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from fileintel.backends.interface import (
    Backend,
    ChunksExist,
    ClaimedDocument,
    CollectionMove,
    DocumentOutcome,
    Listener,
    OutboxTail,
    SessionLock,
)
from fileintel.backends.postgresql import PostgreSQLBackend
from fileintel.backends.sqlite import SQLiteBackend

__all__ = [
    "Backend",
    "ChunksExist",
    "ClaimedDocument",
    "CollectionMove",
    "DocumentOutcome",
    "Listener",
    "OutboxTail",
    "SessionLock",
    "backend_for",
    "backend_for_url",
]

_BACKENDS: dict[str, Backend] = {"postgresql": PostgreSQLBackend(), "sqlite": SQLiteBackend()}


def backend_for_url(url: str) -> Backend:
    """The backend of a database URL."""
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    backend = _BACKENDS.get(scheme)
    if backend is None:
        raise ValueError(f"no backend for {scheme!r} databases")
    return backend


def backend_for(bind: Engine | Connection) -> Backend:
    """The backend of an engine or connection."""
    return _BACKENDS[bind.dialect.name]
