"""Engines and transactions, for whichever database the URL names.

Everything that reads or writes goes through ``write_tx`` or ``read_tx``; a hot path
uses its backend's ``hot_tx`` (``fileintel.backends``). Time that matters for correctness
comes from the database clock (``db_now``), never from the client.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from fileintel.backends import backend_for_url
from fileintel.backends.commit_hooks import mark_outbox_written, on_outbox_commit
from fileintel.backends.transactions import read_tx, write_tx
from fileintel.models.clock import db_now

__all__ = [
    "db_now",
    "dispose_engines",
    "get_engine",
    "make_engine",
    "mark_outbox_written",
    "missing_database",
    "on_outbox_commit",
    "read_tx",
    "write_tx",
]

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with its backend's connection settings (not cached)."""
    return backend_for_url(url).make_engine(url)


def missing_database(url: str) -> str | None:
    """Why the database at ``url`` is known not to exist (checked without creating it)."""
    return backend_for_url(url).missing_database(url)


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (one pool per URL per process)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every cached pool (after fork, and at the end of tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
