"""``fileintel search``: ask a processed collection a question."""

from __future__ import annotations

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.db import read_tx
from fileintel.search.query import MODES, Hit, SearchRequest
from fileintel.search.query import search as search_chunks
from fileintel.store.collections import find_collection


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
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="hybrid",
    show_default=True,
    help="By meaning (vector), by words (lexical), or both fused (hybrid).",
)
@click.option(
    "--document",
    "document_glob",
    metavar="GLOB",
    help="Only documents whose path (or file name) matches GLOB.",
)
@click.option(
    "--media-type",
    metavar="TYPE",
    help="Only documents of this media type (e.g. text/markdown, 'text/*').",
)
@click.option(
    "--context",
    type=click.IntRange(min=0, max=20),
    default=0,
    show_default=True,
    help="Also show N neighbouring chunks before and after each hit.",
)
@click.option("--exact", is_flag=True, help="Score every chunk, never the derived index.")
@JSON_OPTION
@pass_app
def search(
    app: AppContext,
    name_or_id: str,
    query: str,
    top: int,
    mode: str,
    document_glob: str | None,
    media_type: str | None,
    context: int,
    exact: bool,
    as_json: bool,
) -> None:
    """Find the chunks of a collection that answer QUERY (by meaning and by words)."""
    request = SearchRequest(query, top, mode, document_glob, media_type, context, exact)
    with read_tx(app.engine) as conn:
        collection = find_collection(conn, name_or_id)
        result = search_chunks(
            conn,
            collection.id,
            request,
            app.settings.index_dir,
            announce=lambda line: click.echo(line, err=True),
        )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        print_json([h.as_dict() for h in result.hits])
        return
    if not result.hits:
        click.echo("no matches")
    for i, h in enumerate(result.hits, 1):
        click.echo(f"{i}. {h.score:.3f}  {h.path} (chunk {h.chunk})")
        for before in (c for c in h.context if c["chunk"] < h.chunk):
            click.echo(click.style(f"   [{before['chunk']}] {before['text']}", dim=True))
        click.echo(f"   {highlighted(h)}")
        for after in (c for c in h.context if c["chunk"] > h.chunk):
            click.echo(click.style(f"   [{after['chunk']}] {after['text']}", dim=True))


def highlighted(hit: Hit) -> str:
    """The snippet with its matched words in bold (click drops the styling off a terminal)."""
    out, last = [], 0
    for start, end in hit.highlights:
        out.append(hit.snippet[last:start])
        out.append(click.style(hit.snippet[start:end], bold=True, fg="yellow"))
        last = end
    out.append(hit.snippet[last:])
    return "".join(out)
