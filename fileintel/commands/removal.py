"""``fileintel collections remove`` and ``collections delete``: taking out what is gone."""

from __future__ import annotations

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.db import write_tx
from fileintel.errors import InputError
from fileintel.store import collections as store
from fileintel.store.removal import (
    delete_collection,
    documents_under,
    lock_resting_collection,
    remove_documents,
    remove_missing,
)


@click.command()
@click.argument("name_or_id")
@click.argument("paths", nargs=-1)
@click.option("--missing", is_flag=True, help="Remove every document whose file is gone.")
@JSON_OPTION
@pass_app
def remove(
    app: AppContext, name_or_id: str, paths: tuple[str, ...], missing: bool, as_json: bool
) -> None:
    """Remove documents (files, or everything under directories) from a collection.

    Their chunks go with them; the removal is recorded in the collection's history."""
    if bool(paths) == missing:
        raise click.UsageError("give the PATHS to remove, or --missing (not both)")
    with write_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        if missing:
            result = remove_missing(
                conn, collection.id, None, why="files gone from disk", actor="cli"
            )
        else:
            locked = lock_resting_collection(conn, collection.id, "remove documents from")
            chosen = documents_under(conn, collection.id, paths)
            result = remove_documents(conn, locked, chosen, why="removed by request", actor="cli")
    if as_json:
        print_json(result.as_dict())
        return
    click.echo(
        f"{result.collection_name}: removed {len(result.paths)} document(s) "
        f"and {result.chunks} chunk(s)"
    )
    for path in result.paths:
        click.echo(f"  removed: {path}")


@click.command()
@click.argument("name_or_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_app
def delete(app: AppContext, name_or_id: str, yes: bool, as_json: bool) -> None:
    """Delete a collection with its documents, chunks, runs and history (asks unless --yes)."""
    if not yes:
        if as_json:
            raise InputError("'collections delete --json' needs --yes (it cannot ask)")
        click.confirm(
            f"delete collection '{name_or_id}' with its documents, chunks and history?",
            abort=True,
            err=True,
        )
    with write_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        result = delete_collection(conn, collection.id, actor="cli")
    if as_json:
        print_json(result.as_dict())
    else:
        click.echo(
            f"deleted collection '{result.collection_name}' ({result.collection_id}): "
            f"{result.documents} document(s), {result.chunks} chunk(s)"
        )
