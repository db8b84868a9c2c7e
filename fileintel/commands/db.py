"""``fileintel db``: migrate the database and say where it stands."""

from __future__ import annotations

import click
from sqlalchemy.exc import OperationalError

from fileintel import migrate
from fileintel.commands.common import AppContext, pass_app, print_json
from fileintel.config import mask_url, redact
from fileintel.db import get_engine, missing_database
from fileintel.errors import DatabaseError


@click.group()
def db() -> None:
    """Create or migrate the database schema."""


def _safe_url(app: AppContext) -> str:
    return mask_url(app.settings.database_url)


def _reason(app: AppContext, e: OperationalError) -> str:
    return redact(str(e.orig).strip(), app.settings)


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_app
def upgrade(app: AppContext, revision: str) -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    try:
        migrate.upgrade(app.settings.database_url, revision)
    except OperationalError as e:
        raise DatabaseError(f"cannot migrate {_safe_url(app)}: {_reason(app, e)}") from e
    engine = get_engine(app.settings.database_url)
    click.echo(f"database {_safe_url(app)} is at revision {migrate.current_revision(engine)}")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def current(app: AppContext, as_json: bool) -> None:
    """Show the database's schema revision and whether it is the newest."""
    revision: str | None = None
    if missing_database(app.settings.database_url) is None:  # a missing file: not initialised
        engine = get_engine(app.settings.database_url)  # (connecting would create it)
        try:
            revision = migrate.current_revision(engine)
        except OperationalError as e:
            raise DatabaseError(f"cannot reach {_safe_url(app)}: {_reason(app, e)}") from e
    head = migrate.head_revision()
    if as_json:
        print_json({"current": revision, "head": head, "up_to_date": revision == head})
        return
    state = "up to date" if revision == head else "run 'fileintel db upgrade'"
    click.echo(f"{_safe_url(app)}: revision {revision or '(none)'}, head {head} ({state})")
