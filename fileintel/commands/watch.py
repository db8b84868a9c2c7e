"""``collections watch``: print a collection's events until it reaches a terminal status."""

from __future__ import annotations

import threading
from typing import Any

import click

from fileintel.commands.common import AppContext, exit_code_for, pass_app
from fileintel.db import read_tx
from fileintel.models.states import CollectionStatus
from fileintel.outbox.follow import StreamFollower, follow_status_events
from fileintel.store.collections import find_collection

POLL_SECONDS = 0.25


def _line(event: dict[str, Any]) -> str:
    if event.get("type") == "collection.status_changed":
        message = f": {event['message']}" if event.get("message") else ""
        return (
            f"{event.get('at')}  {event.get('from') or '-'} -> {event.get('to')}"
            f"  (seq {event.get('seq')}, by {event.get('actor')}){message}"
        )
    docs = event.get("documents") or {}
    error = f": {event['error']}" if event.get("error") else ""
    return (
        f"{event.get('at')}  {event.get('type')} document {event.get('document_id')} "
        f"{event.get('path', '')}{error}  [done {docs.get('done')}, failed "
        f"{docs.get('failed')}, skipped {docs.get('skipped')} of {docs.get('total')}]"
    )


@click.command()
@click.argument("name_or_id")
@pass_app
def watch(app: AppContext, name_or_id: str) -> int:
    """Print each event of a collection as it happens, until it ends (exit code as --wait)."""
    follower = None
    with read_tx(app.engine) as conn:
        collection = find_collection(conn, name_or_id)
    if app.settings.events_url:
        follower = StreamFollower(app.settings, collection.id)  # position before the look
    with read_tx(app.engine) as conn:
        collection = find_collection(conn, collection.id)
    click.echo(
        f"{collection.name} is {collection.status} (seq {collection.last_seq})"
        + (f": {collection.status_message}" if collection.status_message else "")
    )
    status = CollectionStatus(collection.status)
    if status.is_terminal:
        return exit_code_for(status)
    stop = threading.Event()
    events = (
        follower.events(stop)
        if follower is not None
        else follow_status_events(
            app.engine, collection.id, collection.last_seq, POLL_SECONDS, stop
        )
    )
    for event in events:
        if event.get("seq") is not None and event["seq"] <= collection.last_seq:
            continue
        click.echo(_line(event))
        target = event.get("to")
        if (
            event.get("type") == "collection.status_changed"
            and target
            and CollectionStatus(target).is_terminal
        ):
            stop.set()
            return exit_code_for(target)
    return 0
