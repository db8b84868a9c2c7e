"""Each database's statements behind one interface, chosen once per engine.

The rules — what a transition, a claim, a finish, a relay pass, the leader lock, a wake-up
and the durability barrier mean — are written once in ``fileintel.store``,
``fileintel.outbox`` and ``fileintel.sweeper`` against ``Backend``. A backend only runs the
statements of one database: ``postgresql`` (named queries in ``postgresql.sql``, prepared
once per connection) and ``sqlite`` (SQLAlchemy Core statements built once, most of them in
``portable``). Nothing outside this package asks which database it talks to.

Adding a backend: implement ``Backend`` in a module here, compile ``db_now`` for it, and name
it in ``_BACKENDS``; the suite's ``db_url`` fixture then runs every database test on it.
"""

from __future__ import annotations

import importlib
import threading

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from fileintel.backends import clock as clock
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

#: Each database's backend, by SQLAlchemy dialect name: imported when a process first uses
#: that database, so a command reading the embedded file never loads PostgreSQL's queries.
_BACKENDS = {
    "postgresql": "fileintel.backends.postgresql:PostgreSQLBackend",
    "sqlite": "fileintel.backends.sqlite:SQLiteBackend",
}
_loaded: dict[str, Backend] = {}
_loading = threading.Lock()


def _load(name: str) -> Backend:
    with _loading:
        backend = _loaded.get(name)
        if backend is None:
            module, _, cls = _BACKENDS[name].partition(":")
            backend = _loaded[name] = getattr(importlib.import_module(module), cls)()
        return backend


def backend_for_url(url: str) -> Backend:
    """The backend of a database URL."""
    name = url.split(":", 1)[0].split("+", 1)[0]
    if name not in _BACKENDS:
        raise ValueError(f"no backend for {name!r} databases")
    return _loaded.get(name) or _load(name)


def backend_for(bind: Engine | Connection) -> Backend:
    """The backend of an engine or connection."""
    name = bind.dialect.name
    return _loaded.get(name) or _load(name)
