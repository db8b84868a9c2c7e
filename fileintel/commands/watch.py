"""``collections watch``: print a collection's events until it reaches a terminal status."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import click

from fileintel.commands.common import JSON_OPTION, AppContext, exit_code_for, pass_app
from fileintel.config import redact
from fileintel.db import read_tx
from fileintel.errors import BrokerError, FileIntelError
from fileintel.models.events import STATUS_CHANGED
from fileintel.models.states import CollectionStatus
from fileintel.outbox.follow import StreamFollower, follow_collection
from fileintel.store.collections import find_collection
from fileintel.store.status import collection_status

POLL_SECONDS = 0.25
#: How often a quiet watch looks at the collection's warnings.
WAIT_REPORT_SECONDS = 2.0

log = logging.getLogger(__name__)


def event_line(event: dict[str, Any]) -> str:
    """One line for an event: a status change, or a document's progress with the counters."""
    if event.get("type") == STATUS_CHANGED:
        message = f": {event['message']}" if event.get("message") else ""
        return (
            f"{event.get('at')}  {event.get('from') or '-'} -> {event.get('to')}"
            f"  (seq {event.get('seq')}, by {event.get('actor')}){message}"
        )
    docs = event.get("documents") or {}
    error = f": {event['error']}" if event.get("error") else ""
    return (
        f"{event.get('at')}  {event.get('type')} document {event.get('document_id')} "
        f"{event.get('path') or ''}{error}  [done {docs.get('done')}, failed "
        f"{docs.get('failed')}, skipped {docs.get('skipped')} of {docs.get('total')}]"
    )


def _open_stream(app: AppContext, collection_id: str) -> StreamFollower | None:
    if not app.settings.events_url:
        return None
    try:
        return StreamFollower(app.settings, collection_id)
    except BrokerError as e:
        click.echo(redact(f"warning: {e}; following the database instead", app.settings), err=True)
        return None


class _Printer:
    """One line per event (or one JSON object per line), from two threads."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.lock = threading.Lock()

    def event(self, event: dict[str, Any]) -> None:
        with self.lock:
            click.echo(json.dumps(event, default=str) if self.as_json else event_line(event))

    def waiting(self, warnings: list[dict[str, str]]) -> None:
        with self.lock:
            if self.as_json:
                click.echo(json.dumps({"type": "waiting", "warnings": warnings}))
                return
            for w in warnings:
                click.echo(f"waiting: {w['message']} [{w['code']}]")


def _report_waits(
    app: AppContext, collection_id: str, out: _Printer, stop: threading.Event
) -> None:
    """While nothing happens, say what the collection waits for: its warnings, each time
    they change (a watch that prints nothing looks like a hang)."""
    shown: list[dict[str, str]] = []
    while not stop.wait(WAIT_REPORT_SECONDS):
        try:
            with read_tx(app.engine) as conn:
                view = collection_status(conn, find_collection(conn, collection_id))
        except FileIntelError as e:  # e.g. deleted meanwhile: the main loop ends too
            log.debug("watch: cannot read the warnings: %s", e)
            continue
        warnings = view["warnings"]
        if warnings != shown:
            shown = warnings
            if warnings:
                out.waiting(warnings)


@click.command()
@click.argument("name_or_id")
@JSON_OPTION
@pass_app
def watch(app: AppContext, name_or_id: str, as_json: bool) -> int:
    """Print each event of a collection as it happens, until it ends.

    While nothing happens, it says what it is waiting for.

    Exits 0 when it ends completed, 3 completed_with_errors, 1 failed or cancelled.
    """
    out = _Printer(as_json)
    with read_tx(app.engine) as conn:
        collection_id = str(find_collection(conn, name_or_id).id)
    # The stream position is taken before the look, so nothing after the look is missed.
    stream = _open_stream(app, collection_id)
    try:
        with read_tx(app.engine) as conn:
            collection = find_collection(conn, collection_id)
        click.echo(
            f"{collection.name} is {collection.status} (seq {collection.last_seq})"
            + (f": {collection.status_message}" if collection.status_message else ""),
            err=as_json,
        )
        if CollectionStatus(collection.status).is_terminal:
            return exit_code_for(collection.status)
        stop = threading.Event()
        reporter = threading.Thread(
            target=_report_waits, args=(app, collection_id, out, stop), daemon=True
        )
        reporter.start()
        events = follow_collection(
            app.engine,
            collection_id,
            collection.last_seq,
            stop,
            stream=stream,
            poll_seconds=POLL_SECONDS,
        )
        try:
            for event in events:
                out.event(event)
                target = str(event.get("to") or "")
                if event.get("type") == STATUS_CHANGED and CollectionStatus(target).is_terminal:
                    return exit_code_for(target)
        finally:
            stop.set()
        return 0
    finally:
        if stream is not None:
            stream.close()
