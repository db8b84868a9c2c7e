"""Following a run to its end: a progress bar, then the summary and the failed documents.

Used by ``ingest`` and ``process --wait``. On the embedded defaults the worker, relay and
sweeper run inside this process for as long as the run lasts; with a real broker this only
follows, and says so when no worker seems to pick the run up.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fileintel.backends.diagnosis import unusable_for
from fileintel.commands.common import AppContext, exit_code_for, print_json
from fileintel.commands.render import render_status
from fileintel.db import read_tx
from fileintel.errors import DatabaseUnusable
from fileintel.models.states import CollectionStatus, DocumentState
from fileintel.runtime import EmbeddedRuntime
from fileintel.store.collections import find_collection
from fileintel.store.documents import list_documents
from fileintel.store.runs import run_view
from fileintel.store.status import collection_status

POLL_SECONDS = 0.2
NO_WORKER_HINT_SECONDS = 15.0
FAILED_SHOWN = 50


@contextlib.contextmanager
def _embedded_if_needed(app: AppContext) -> Iterator[None]:
    if not app.settings.is_embedded_broker:
        yield
        return
    with EmbeddedRuntime(app.settings):
        yield


def follow_until_terminal(
    app: AppContext, collection_id: str, run_id: str, *, as_json: bool = False
) -> int:
    """Show progress until the run ends; print the summary; return the documented exit code."""
    console = Console(stderr=True)
    with _embedded_if_needed(app):
        _progress_loop(app, run_id, console, show=not as_json and sys.stderr.isatty())
    with read_tx(app.engine) as conn:
        view = collection_status(conn, find_collection(conn, collection_id))
        failed = list_documents(conn, collection_id, DocumentState.FAILED, FAILED_SHOWN)
    if as_json:
        print_json({**view, "run_id": run_id, "failed_documents": failed})
    else:
        render_status(view)
        if failed:
            click.echo(f"failed documents ({view['documents']['failed']}):")
            for doc in failed:
                click.echo(f"  {doc['path']}: {doc['error']}")
    return exit_code_for(view["status"])


#: How long this process's writes must have failed for a cause that repeats (disk full,
#: damaged) before following a run gives up with that cause instead of waiting for ever.
UNUSABLE_EXIT_SECONDS = 5.0


def _progress_loop(app: AppContext, run_id: str, console: Console, *, show: bool) -> None:
    started = time.monotonic()
    hinted = False
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not show, transient=True) as progress:
        task = progress.add_task("queued", total=None, detail="")
        while True:
            with read_tx(app.engine) as conn:
                run = run_view(conn, run_id)
            docs = run["documents"]
            finished = docs["done"] + docs["failed"] + docs["skipped"]
            progress.update(
                task,
                description=run["status"],
                total=docs["total"],
                completed=finished,
                detail=_detail(docs),
            )
            if CollectionStatus(run["status"]).is_terminal:
                return
            broken = unusable_for(UNUSABLE_EXIT_SECONDS)
            if broken is not None:  # nothing can move until someone acts: say why, stop
                then = (
                    "is kept"
                    if broken.code == "damaged"
                    else "is kept and goes on when this command (or 'fileintel run') runs again"
                )
                raise DatabaseUnusable(f"{broken.message}; run {run_id} {then}")
            if (
                not hinted
                and run["status"] == "queued"
                and not app.settings.is_embedded_broker
                and time.monotonic() - started > NO_WORKER_HINT_SECONDS
            ):
                console.print(
                    f"run {run_id} has not been picked up after {NO_WORKER_HINT_SECONDS:.0f}s: "
                    "no worker seems to be running. Start one with 'fileintel worker' "
                    "(and 'fileintel relay'), or all of them with 'honcho start'."
                )
                hinted = True
            time.sleep(POLL_SECONDS)


def _detail(docs: dict[str, Any]) -> str:
    return f"done {docs['done']} failed {docs['failed']} skipped {docs['skipped']}"
