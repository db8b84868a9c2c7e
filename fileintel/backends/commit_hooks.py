"""What happens after a commit, for every kind of transaction: outbox rows and status
changes written in it are noted on the connection and acted on once it commits.

Code that inserts outbox rows marks its connection (``mark_outbox_written``); whoever
commits the transaction (``db.write_tx``, a backend's hot transaction) runs the hooks
registered for the engine afterwards. The embedded mode wakes its relay this way: SQLite
has no NOTIFY, and without a wake-up a committed message waits for the relay's next poll.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, exc
from sqlalchemy.engine import Connection

from fileintel.config import redact, url_secrets

log = logging.getLogger("fileintel.db")

#: Set in ``Connection.info`` by code that inserts outbox rows.
_OUTBOX_WRITTEN = "fileintel.outbox_written"
#: Set in ``Connection.info`` by the transition: the (from, to) pairs it wrote.
_TRANSITIONS = "fileintel.pending_transitions"
_hooks: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def mark_outbox_written(conn: Connection) -> None:
    """Note that the current transaction inserted outbox rows (see ``on_outbox_commit``)."""
    conn.info[_OUTBOX_WRITTEN] = True


def take_outbox_written(info: dict[Any, Any]) -> bool:
    """Whether the transaction whose connection has ``info`` (``Connection.info``, taken
    while the connection was valid) inserted outbox rows; clears the note."""
    return bool(info.pop(_OUTBOX_WRITTEN, False))


def note_transition(conn: Connection, from_status: str | None, to_status: str) -> None:
    """Remember a status change written on ``conn``: the metrics count it at commit
    (``fileintel.metrics.count_commits``), never when it is rolled back."""
    conn.info.setdefault(_TRANSITIONS, []).append((from_status or "none", to_status))


def take_transitions(info: dict[Any, Any]) -> list[tuple[str, str]]:
    """The status changes noted on a connection's ``info`` since the last call."""
    return list(info.pop(_TRANSITIONS, ()))


def on_outbox_commit(engine: Engine, hook: Callable[[], None]) -> Callable[[], None]:
    """Call ``hook`` after each transaction on ``engine``, in this process, that committed
    outbox rows; return a function that removes it."""
    with _lock:
        _hooks.setdefault(engine, []).append(hook)

    def remove() -> None:
        with _lock:
            hooks = _hooks.get(engine, [])
            if hook in hooks:
                hooks.remove(hook)

    return remove


def run_outbox_hooks(engine: Engine) -> None:
    """Run the hooks of ``engine`` (after a commit that wrote outbox rows)."""
    with _lock:
        hooks = list(_hooks.get(engine, ()))
    for hook in hooks:
        try:
            hook()
        except Exception:  # the transaction committed: a hook must not undo that for the caller
            log.exception("outbox commit hook failed")


def short_error(e: exc.DBAPIError, engine: Engine) -> str:
    """The driver's first line, without the engine's password should the driver quote it."""
    text = str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
    return redact(text, url_secrets(engine.url.render_as_string(hide_password=False)))
