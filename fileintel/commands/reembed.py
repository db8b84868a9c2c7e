"""``fileintel collections reembed``: embed a collection's chunks again, as a run of its own."""

from __future__ import annotations

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app
from fileintel.commands.follow_run import report_queued
from fileintel.db import write_tx
from fileintel.store.collections import find_collection
from fileintel.store.reembed import request_reembed


@click.command()
@click.argument("name_or_id")
@click.option(
    "--embedder",
    metavar="E",
    help="wordllama, hashing[:DIM] or sentence-transformers:MODEL [default: FILEINTEL_EMBEDDER].",
)
@click.option("--wait", is_flag=True, help="Follow progress until the run ends.")
@JSON_OPTION
@pass_app
def reembed(
    app: AppContext, name_or_id: str, embedder: str | None, wait: bool, as_json: bool
) -> int:
    """Embed the stored chunks of a collection again (a new run: status, history, events).

    The collection is searched with the new model once the run has re-embedded it; its
    documents are not read again (one without stored chunks is processed from its file).
    """
    with write_tx(app.engine) as conn:
        collection = find_collection(conn, name_or_id)
        run_id = request_reembed(
            conn,
            collection.id,
            embedder or app.settings.embedder,
            deadline_seconds=app.settings.run_deadline_seconds,
        )
    return report_queued(app, collection, run_id, kind="reembed run", wait=wait, as_json=as_json)
