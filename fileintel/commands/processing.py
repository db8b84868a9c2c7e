"""Processing commands: ``ingest`` (the main job), ``cancel``, ``retry``, ``worker``, ``run``."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.commands.follow_run import follow_until_terminal
from fileintel.config import mask_url
from fileintel.db import write_tx
from fileintel.errors import AlreadyProcessing, InputError, NotFound
from fileintel.logs import configure_logging
from fileintel.pipeline import PipelineOptions
from fileintel.runtime import DEFAULT_WORKER_THREADS, EmbeddedRuntime, default_processes
from fileintel.store import collections as store
from fileintel.store.documents import register_scan, scan_paths
from fileintel.store.lifecycle import cancel_run
from fileintel.store.removal import remove_missing
from fileintel.store.runs import RETRY, get_run, request_processing

#: The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def run_options(no_embeddings: bool, no_metadata: bool, force: bool) -> dict[str, object]:
    """The options stored with a run."""
    options = PipelineOptions(embeddings=not no_embeddings, metadata=not no_metadata)
    return {**options.as_dict(), "force": force}


#: The embedded mode's worker processes and threads, as ``run`` and ``ingest`` take them.
PROCESSES_OPTION = click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    help="Embedded mode: worker processes (default: one per CPU).",
)
THREADS_OPTION = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKER_THREADS,
    show_default=True,
    help="Embedded mode: worker threads per process.",
)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--collection", "name", required=True, help="Collection name (created if new).")
@click.option("--no-embeddings", is_flag=True, help="Do not compute embeddings.")
@click.option("--no-metadata", is_flag=True, help="Do not extract document metadata.")
@click.option("--force", is_flag=True, help="Reprocess documents even if unchanged.")
@PROCESSES_OPTION
@THREADS_OPTION
@click.option(
    "--sync", is_flag=True, help="Remove documents under PATHS whose file is gone from disk."
)
@JSON_OPTION
@pass_app
def ingest(
    app: AppContext,
    paths: tuple[str, ...],
    name: str,
    no_embeddings: bool,
    no_metadata: bool,
    force: bool,
    processes: int | None,
    threads: int,
    sync: bool,
    as_json: bool,
) -> int:
    """Add PATHS to a collection, process it, follow progress and summarise.

    Exit code: 0 completed, 3 completed with errors, 1 failed or cancelled.
    """
    if app.settings.is_embedded_broker:  # this process runs the workers
        app.require_embedder()
    scan = scan_paths(paths)
    with write_tx(app.engine) as conn:
        try:
            collection_id = store.find_collection(conn, name).id
        except NotFound:
            collection_id = store.create_collection(conn, name)
        removed = (
            remove_missing(
                conn, collection_id, paths, why="files gone from disk, --sync", actor="cli"
            )
            if sync
            else None
        )
        added = register_scan(conn, collection_id, scan)
    summary = added.summary(name)
    if removed is not None:
        summary += f", {len(removed.paths)} removed (gone from disk)"
    for line in added.detail_lines():
        click.echo(line, err=True)
    try:
        with write_tx(app.engine) as conn:
            run_id = request_processing(
                conn,
                collection_id,
                options=run_options(no_embeddings, no_metadata, force),
                deadline_seconds=app.settings.run_deadline_seconds,
                default_embedder=app.settings.embedder,
            )
    except AlreadyProcessing as busy:
        # An earlier ingest is still running (or was interrupted): follow it rather than
        # fail; on the embedded defaults this process's sweeper also recovers lost work.
        if busy.run_id is None:
            raise
        run_id = busy.run_id
        click.echo(
            f"{summary}; '{name}' is already {busy.status} (run {run_id}): following it; "
            "run ingest again afterwards to process new files",
            err=as_json,
        )
    else:
        click.echo(f"{summary}; run {run_id}", err=as_json)
    try:
        return follow_until_terminal(
            app, collection_id, run_id, as_json=as_json, processes=processes, threads=threads
        )
    except KeyboardInterrupt:
        # The worker processes have stopped (running documents finished); the run stays
        # open and true, and the next runtime on this database recovers what is left.
        click.echo(
            f"interrupted: run {run_id} of '{name}' is not finished; it resumes when "
            f"'fileintel ingest' or 'fileintel run' runs again on this database",
            err=True,
        )
        return EXIT_INTERRUPTED


@click.command()
@click.argument("name_or_id")
@JSON_OPTION
@pass_app
def cancel(app: AppContext, name_or_id: str, as_json: bool) -> None:
    """Cancel the queued or running run of a collection."""
    with write_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        if collection.status not in ("queued", "processing"):
            raise InputError(
                f"collection '{collection.name}' is {collection.status}; "
                "only a queued or processing collection can be cancelled"
            )
        change = cancel_run(conn, collection.id)
    if as_json:
        print_json({"id": collection.id, "status": change.to_status.value, "run_id": change.run_id})
    else:
        click.echo(f"cancelled run {change.run_id} of '{collection.name}'")


@click.command()
@click.argument("name_or_id")
@click.option("--wait", is_flag=True, help="Follow progress until the run ends.")
@JSON_OPTION
@pass_app
def retry(app: AppContext, name_or_id: str, wait: bool, as_json: bool) -> int:
    """Process again only the documents that failed (a new run)."""
    with write_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        options = {"force": True}
        if collection.current_run_id:
            options = {**get_run(conn, collection.current_run_id).options, "force": True}
        run_id = request_processing(
            conn,
            collection.id,
            options=options,
            kind=RETRY,
            deadline_seconds=app.settings.run_deadline_seconds,
            default_embedder=app.settings.embedder,
        )
    if not wait:
        if as_json:
            print_json({"collection_id": collection.id, "run_id": run_id, "status": "queued"})
        else:
            click.echo(f"queued retry run {run_id} for '{collection.name}'")
        return 0
    return follow_until_terminal(app, collection.id, run_id, as_json=as_json)


#: Dramatiq's Redis consumer stops fetching while a process holds ``prefetch`` messages and
#: sleeps with a growing backoff; with its default of 2 per thread a thread that finishes
#: its second document often waits for that sleep. 4 per thread keeps the threads fed.
PREFETCH_PER_THREAD = 4
#: The longest a Redis consumer sleeps between two polls, in ms (Dramatiq's
#: ``dramatiq_worker_timeout``). The consumer does not block on Redis: it polls, doubling
#: its sleep up to this bound while it has nothing to fetch or its prefetch window is full,
#: and it hands back acknowledgements only when it wakes. At Dramatiq's default of 1000 ms
#: an idle worker took up to a second to notice new work, and a busy one often ran out of
#: messages while its consumer slept (workers idle about a fifth of a run). At 100 ms an
#: idle process polls each queue 10 times a second, a negligible load on Redis.
POLL_MS = 100


@click.command()
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: one per CPU).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker threads per process.",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=1),
    default=None,
    help=f"Messages each process holds ahead (default: {PREFETCH_PER_THREAD} per thread).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Expose Prometheus metrics on this port (one process: use --processes 1).",
)
@pass_app
def worker(
    app: AppContext,
    processes: int | None,
    threads: int,
    prefetch: int | None,
    metrics_port: int | None,
) -> None:
    """Run Dramatiq workers (the same as 'dramatiq fileintel.workers')."""
    if app.settings.is_embedded_broker:
        raise InputError(
            "FILEINTEL_BROKER_URL is stub:// (in-process); a separate worker "
            "cannot reach it. Use 'fileintel run', or set a redis:// or amqp:// URL"
        )
    app.engine  # noqa: B018 - fail now, in one line, if the database is not migrated
    app.require_embedder()
    env = {
        **os.environ,
        "FILEINTEL_DATABASE_URL": app.settings.database_url,
        "FILEINTEL_BROKER_URL": app.settings.broker_url,
    }
    if app.settings.events_url:
        env["FILEINTEL_EVENTS_URL"] = app.settings.events_url
    dramatiq = os.path.join(os.path.dirname(sys.executable), "dramatiq")
    if metrics_port:
        env["FILEINTEL_METRICS_PORT"] = str(metrics_port)
    if prefetch is not None or "dramatiq_queue_prefetch" not in env:
        env["dramatiq_queue_prefetch"] = str(prefetch or PREFETCH_PER_THREAD * threads)
    env.setdefault("dramatiq_worker_timeout", str(POLL_MS))
    args = [dramatiq, "fileintel.workers", "--threads", str(threads)]
    if processes:
        args += ["--processes", str(processes)]
    os.execve(dramatiq, args, env)


@click.command("run")
@PROCESSES_OPTION
@THREADS_OPTION
@pass_app
def run_embedded(app: AppContext, processes: int | None, threads: int) -> None:
    """Run worker processes, relay and sweeper on this database (the embedded mode).

    One runs per database: a second 'fileintel run' says so and exits 1.
    """
    if not app.settings.is_embedded_broker:
        raise InputError(
            "'fileintel run' is the embedded mode (stub:// broker); with "
            f"{mask_url(app.settings.broker_url)} run 'honcho start' on the Procfile"
        )
    app.engine  # noqa: B018 - check the schema (quietly) before starting anything
    app.require_embedder()
    configure_logging(app.settings.log_format, app.settings.log_level, secrets=app.settings.secrets)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime = EmbeddedRuntime(
        app.settings, processes=processes or default_processes(), worker_threads=threads
    )
    with runtime:
        where = mask_url(app.settings.database_url)
        click.echo(
            f"FileIntel running on {where} (Ctrl-C to stop): {runtime.processes} worker "
            f"process(es) of {threads} thread(s)",
            err=True,
        )
        while not stop.wait(0.5):
            pass
    click.echo("stopped", err=True)
