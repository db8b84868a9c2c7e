"""``fileintel collections list``, ``status`` and ``history``: where collections stand.

Each reads in one transaction. This module imports only the read side of the store, so
that ``collections status`` answers in a fresh process about as fast as SQLAlchemy imports
(``benchmarks/cli_startup/``; ``tests/cli/test_startup.py`` keeps the heavy
modules out).
"""

from __future__ import annotations

import click

from fileintel.commands.common import JSON_OPTION, AppContext, pass_app, print_json
from fileintel.commands.render import (
    render_collection_list,
    render_explain,
    render_history,
    render_status,
)
from fileintel.db import read_tx
from fileintel.models.states import CollectionStatus
from fileintel.store import collections as store
from fileintel.store.explain import explain as explain_view
from fileintel.store.status import collection_status, history, list_collections


@click.command("list")
@click.option(
    "--status",
    "status_filter",
    type=click.Choice([s.value for s in CollectionStatus]),
    default=None,
    help="Only collections in this status.",
)
@click.option("--stuck", is_flag=True, help="Only collections with warnings.")
@JSON_OPTION
@pass_app
def list_(app: AppContext, status_filter: str | None, stuck: bool, as_json: bool) -> None:
    """List collections with their status and warnings."""
    wanted = store.parse_status_filter(status_filter)
    with read_tx(app.engine) as conn:
        rows = list_collections(conn, status=wanted, stuck=stuck)
    if as_json:
        print_json(rows)
    else:
        render_collection_list(rows)


@click.command()
@click.argument("name_or_id")
@click.option("--explain", is_flag=True, help="Also show transitions, leases and next moves.")
@JSON_OPTION
@pass_app
def status(app: AppContext, name_or_id: str, explain: bool, as_json: bool) -> None:
    """Is the collection done, and if not, why?"""
    with read_tx(app.engine) as conn:
        collection = store.find_collection(conn, name_or_id)
        view = collection_status(conn, collection)
        if explain:
            view["explain"] = explain_view(conn, collection)
    if as_json:
        print_json(view)
        return
    render_status(view)
    if explain:
        render_explain(view["explain"])


@click.command("history")
@click.argument("name_or_id")
@JSON_OPTION
@pass_app
def history_(app: AppContext, name_or_id: str, as_json: bool) -> None:
    """Every status change of a collection, with time, run, actor and message."""
    with read_tx(app.engine) as conn:
        rows = history(conn, store.find_collection(conn, name_or_id).id)
    if as_json:
        print_json(rows)
    else:
        render_history(rows)
