"""``collections watch``: print a collection's events until it reaches a terminal status."""

from __future__ import annotations

import threading
from typing import Any

import click

from fileintel.commands.common import AppContext, exit_code_for, pass_app
from fileintel.config import redact
from fileintel.db import read_tx
from fileintel.errors import BrokerError
from fileintel.models.events import STATUS_CHANGED
from fileintel.models.states import CollectionStatus
from fileintel.outbox.follow import StreamFollower, follow_collection
from fileintel.store.collections import find_collection

POLL_SECONDS = 0.25


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


@click.command()
@click.argument("name_or_id")
@pass_app
def watch(app: AppContext, name_or_id: str) -> int:
    """Print each event of a collection as it happens, until it ends.

    Exits 0 when it ends completed, 3 completed_with_errors, 1 failed or cancelled.
    """
    with read_tx(app.engine) as conn:
        collection_id = str(find_collection(conn, name_or_id).id)
    # The stream position is taken before the look, so nothing after the look is missed.
    stream = _open_stream(app, collection_id)
    try:
        with read_tx(app.engine) as conn:
            collection = find_collection(conn, collection_id)
        click.echo(
            f"{collection.name} is {collection.status} (seq {collection.last_seq})"
            + (f": {collection.status_message}" if collection.status_message else "")
        )
        if CollectionStatus(collection.status).is_terminal:
            return exit_code_for(collection.status)
        stop = threading.Event()
        events = follow_collection(
            app.engine,
            collection_id,
            collection.last_seq,
            stop,
            stream=stream,
            poll_seconds=POLL_SECONDS,
        )
        for event in events:
            click.echo(event_line(event))
            target = str(event.get("to") or "")
            if event.get("type") == STATUS_CHANGED and CollectionStatus(target).is_terminal:
                stop.set()
                return exit_code_for(target)
        return 0
    finally:
        if stream is not None:
            stream.close()
