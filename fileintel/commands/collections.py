"""``fileintel collections create``, ``add``, ``documents`` and ``process``.

The read-only views of a collection (``list``, ``status``, ``history``) are in
``fileintel.commands.status``, which does not import registration or processing.
"""

from __future__ import annotations

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.commands.follow_run import report_queued
from fileintel.commands.processing import run_options
from fileintel.db import read_tx, write_tx
from fileintel.models.states import DocumentState
from fileintel.store import collections as store
from fileintel.store import documents as docs_store
from fileintel.store.runs import request_processing


@click.command()
@click.argument("name")
@click.option("--description", default=None, help="A note about what the collection holds.")
@JSON_OPTION
@pass_app
def create(app: AppContext, name: str, description: str | None, as_json: bool) -> None:
    """Create an empty collection called NAME."""
    with write_tx(app.engine) as conn:
        collection_id = store.create_collection(conn, name, description)
    if as_json:
        print_json({"id": collection_id, "name": name, "status": "created"})
    else:
        click.echo(f"created collection '{name}' ({collection_id})")


@click.command()
@click.argument("name_or_id")
@click.argument("paths", nargs=-1, required=True)
@JSON_OPTION
@pass_app
def add(app: AppContext, name_or_id: str, paths: tuple[str, ...], as_json: bool) -> None:
    """Register files and directories (recursively) as documents of a collection."""
    scan = docs_store.scan_paths(paths)
    with write_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        result = docs_store.register_scan(conn, collection.id, scan)
    if as_json:
        print_json(result.as_dict())
        return
    click.echo(result.summary(collection.name))
    for line in result.detail_lines():
        click.echo(line)


@click.command()
@click.argument("name_or_id")
@click.option(
    "--state",
    type=click.Choice([s.value for s in DocumentState]),
    default=None,
    help="Only documents in this state.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@JSON_OPTION
@pass_app
def documents(
    app: AppContext, name_or_id: str, state: str | None, limit: int | None, as_json: bool
) -> None:
    """The documents of a collection and their state in the current run."""
    wanted = docs_store.parse_state_filter(state)
    with read_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        rows = docs_store.list_documents(conn, collection.id, wanted, limit)
    if as_json:
        print_json(docs_store.documents_json(rows))
        return
    for r in rows:
        error = f"  ({r['error']})" if r["error"] else ""
        click.echo(f"{r['id']:>7}  {r['state']:<10} {r['chunks']:>5} chunks  {r['path']}{error}")
    if not rows:
        click.echo("no documents" + (f" in state {state}" if state else ""))


@click.command()
@click.argument("name_or_id")
@click.option("--wait", is_flag=True, help="Follow progress until the run ends.")
@click.option("--no-embeddings", is_flag=True, help="Do not compute embeddings.")
@click.option("--no-metadata", is_flag=True, help="Do not extract document metadata.")
@click.option("--force", is_flag=True, help="Reprocess documents even if unchanged.")
@JSON_OPTION
@pass_app
def process(
    app: AppContext,
    name_or_id: str,
    wait: bool,
    no_embeddings: bool,
    no_metadata: bool,
    force: bool,
    as_json: bool,
) -> int:
    """Request processing of every document of a collection (a new run)."""
    with write_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        run_id = request_processing(
            conn,
            collection.id,
            options=run_options(no_embeddings, no_metadata, force),
            deadline_seconds=app.settings.run_deadline_seconds,
            default_embedder=app.settings.embedder,
        )
    return report_queued(app, collection, run_id, kind="run", wait=wait, as_json=as_json)
