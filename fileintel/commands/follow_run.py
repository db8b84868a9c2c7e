"""Following a run to its end: a progress bar, then the summary and the failed documents.

Used by ``ingest`` and ``process --wait``. On the embedded defaults this command starts the
embedded runtime (worker processes, relay, sweeper) for as long as the run lasts; when
another process already runs it on the database (``fileintel run``, another ``ingest``),
this one follows and takes over if that process stops first. With a real broker this only
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
from fileintel.errors import DatabaseUnusable, EmbeddedBusy
from fileintel.models.states import CollectionStatus, DocumentState
from fileintel.runtime import DEFAULT_WORKER_THREADS, EmbeddedRuntime, default_processes
from fileintel.store.collections import find_collection
from fileintel.store.documents import list_documents
from fileintel.store.runs import run_view
from fileintel.store.status import collection_status

POLL_SECONDS = 0.2
NO_WORKER_HINT_SECONDS = 15.0
FAILED_SHOWN = 50
#: How often a command that follows another process's embedded runtime tries to take over.
TAKE_OVER_SECONDS = 1.0


class EmbeddedWhileFollowing:
    """The embedded runtime of a following command: started as soon as no other process
    runs one on the database, stopped when the command stops following."""

    def __init__(self, app: AppContext, processes: int | None, threads: int):
        self.app = app
        self.processes = default_processes() if processes is None else processes
        self.threads = threads
        self.runtime: EmbeddedRuntime | None = None
        self._tried_at = -TAKE_OVER_SECONDS
        self.told = False

    def ensure(self, console: Console) -> None:
        """Start the runtime unless another process runs one (then try again later)."""
        if self.runtime is not None or time.monotonic() - self._tried_at < TAKE_OVER_SECONDS:
            return
        self._tried_at = time.monotonic()
        settings = self.app.settings
        if settings.log_level == "info":  # a following command shows progress, not logs
            settings = settings.with_overrides(log_level="warning")
        runtime = EmbeddedRuntime(settings, processes=self.processes, worker_threads=self.threads)
        try:
            runtime.start()
        except EmbeddedBusy:
            if not self.told:
                console.print(
                    "another FileIntel process ('fileintel run' or 'ingest') processes this "
                    "database: following it"
                )
                self.told = True
            return
        self.runtime = runtime

    def stop(self) -> None:
        """Stop the runtime if this command started one."""
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None


@contextlib.contextmanager
def _embedded_if_needed(
    app: AppContext, processes: int | None, threads: int
) -> Iterator[EmbeddedWhileFollowing | None]:
    if not app.settings.is_embedded_broker:
        yield None
        return
    embedded = EmbeddedWhileFollowing(app, processes, threads)
    try:
        yield embedded
    finally:
        embedded.stop()


def report_queued(
    app: AppContext,
    collection: Any,
    run_id: str,
    *,
    kind: str,
    wait: bool,
    as_json: bool,
) -> int:
    """After a run was requested: say so (or print its JSON), then follow it with ``wait``."""
    if as_json and not wait:
        print_json({"collection_id": collection.id, "run_id": run_id, "status": "queued"})
        return 0
    click.echo(f"queued {kind} {run_id} for '{collection.name}'", err=as_json)
    if not wait:
        click.echo(f"follow it with 'fileintel collections watch {collection.name}'")
        return 0
    return follow_until_terminal(app, collection.id, run_id, as_json=as_json)


def follow_until_terminal(
    app: AppContext,
    collection_id: str,
    run_id: str,
    *,
    as_json: bool = False,
    processes: int | None = None,
    threads: int = DEFAULT_WORKER_THREADS,
) -> int:
    """Show progress until the run ends; print the summary; return the documented exit code.

    On the embedded defaults ``processes`` worker processes (default: one per CPU) of
    ``threads`` threads do the work while this command follows.
    """
    console = Console(stderr=True)
    with _embedded_if_needed(app, processes, threads) as embedded:
        _progress_loop(app, run_id, console, embedded, show=not as_json and sys.stderr.isatty())
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


def _progress_loop(
    app: AppContext,
    run_id: str,
    console: Console,
    embedded: EmbeddedWhileFollowing | None,
    *,
    show: bool,
) -> None:
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
            if embedded is not None:
                embedded.ensure(console)
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
