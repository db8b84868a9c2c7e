"""``fileintel runs``: look a task id up."""

from __future__ import annotations

import click

from fileintel.commands.common import AppContext, pass_app, print_json
from fileintel.db import read_tx
from fileintel.store.runs import run_view


@click.group()
def runs() -> None:
    """Processing runs (the task ids printed by process and ingest)."""


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show(app: AppContext, run_id: str, as_json: bool) -> None:
    """Which collection RUN_ID is for, and what it is doing."""
    with read_tx(app.engine) as conn:
        view = run_view(conn, run_id)
    if as_json:
        print_json(view)
        return
    docs = view["documents"]
    current = "current run" if view["is_current"] else "superseded by a newer run"
    click.echo(f"run {view['id']} ({view['kind']}, attempt {view['attempt']}, {current})")
    click.echo(
        f"  collection  {view['collection_name']} ({view['collection_id']}), "
        f"now {view['collection_status']}"
    )
    click.echo(f"  status      {view['status']}")
    click.echo(f"  requested   {view['requested_at']}")
    click.echo(f"  started     {view['started_at'] or '-'}")
    click.echo(f"  finished    {view['finished_at'] or '-'}")
    click.echo("  documents   " + ", ".join(f"{k} {v}" for k, v in docs.items()))
    if view["error"]:
        click.echo(f"  error       {view['error']}")
