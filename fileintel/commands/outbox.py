"""``fileintel outbox``: how the relay is doing, and putting parked rows back."""

from __future__ import annotations

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.db import read_tx, write_tx
from fileintel.store.outbox_state import outbox_status, retry_parked


@click.group()
def outbox() -> None:
    """The transactional outbox (what the relay still has to publish)."""


@outbox.command("status")
@JSON_OPTION
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Backlog, oldest unpublished age, parked rows and recent throughput."""
    with read_tx(app.engine) as conn:
        view = outbox_status(conn)
    if as_json:
        print_json(view)
        return
    oldest = view["oldest_unpublished_seconds"]
    click.echo(f"backlog                {view['backlog']}")
    click.echo(f"oldest unpublished     {'-' if oldest is None else f'{oldest:.1f} s'}")
    click.echo(f"published last minute  {view['published_last_minute']}")
    click.echo(f"parked                 {view['parked']}")
    for topic, n in sorted(view["by_topic"].items()):
        click.echo(f"  waiting {topic:<26} {n}")
    for row in view["parked_rows"]:
        click.echo(
            f"  parked #{row['id']} {row['topic']} ({row['attempts']} attempts): "
            f"{row['last_error']}"
        )
    if view["parked"]:
        click.echo("put them back with 'fileintel outbox retry-parked'")


@outbox.command("retry-parked")
@JSON_OPTION
@pass_app
def retry_parked_command(app: AppContext, as_json: bool) -> None:
    """Put parked rows back in line for the relay."""
    with write_tx(app.engine) as conn:
        count = retry_parked(conn)
    if as_json:
        print_json({"retried": count})
    else:
        click.echo(f"{count} parked row(s) put back")
