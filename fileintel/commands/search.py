"""``fileintel search``: ask a processed collection a question."""

from __future__ import annotations

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.db import read_tx
from fileintel.store.collections import find_collection
from fileintel.store.search import search as search_chunks


@click.command()
@click.argument("name_or_id")
@click.argument("query")
@click.option(
    "--top",
    type=click.IntRange(min=1, max=1000),
    default=5,
    show_default=True,
    help="How many results.",
)
@JSON_OPTION
@pass_app
def search(app: AppContext, name_or_id: str, query: str, top: int, as_json: bool) -> None:
    """Find the chunks of a collection most similar to QUERY (cosine over embeddings)."""
    with read_tx(app.engine) as conn:
        collection = find_collection(conn, name_or_id)
        hits = search_chunks(conn, collection.id, query, top, embedder_name=app.settings.embedder)
    if as_json:
        print_json([h.as_dict() for h in hits])
        return
    if not hits:
        click.echo("no matches")
    for i, h in enumerate(hits, 1):
        click.echo(f"{i}. {h.score:.3f}  {h.path} (chunk {h.chunk})")
        click.echo(f"   {h.text}")
