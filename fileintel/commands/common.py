"""What every command shares: the application context, output helpers, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import update_wrapper
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

import click
from sqlalchemy import Engine

from fileintel.commands.invocation import (
    EXIT_COMPLETED_WITH_ERRORS,
    EXIT_ERROR,
    EXIT_OK,
    GlobalOptions,
)
from fileintel.config import Settings, check_embedder
from fileintel.db import get_engine, missing_database
from fileintel.errors import DatabaseError
from fileintel.migrate import require_head
from fileintel.models.states import CollectionStatus

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")

P = ParamSpec("P")
R = TypeVar("R")

#: The key of the invocation's ``AppContext`` in ``click.Context.meta`` (shared by the
#: contexts of one invocation).
_APP_KEY = "fileintel.app"


@dataclass
class AppContext:
    """Settings and lazily opened resources, shared by the commands of one invocation."""

    settings: Settings
    debug: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        """The engine on the configured database, checked to be migrated to head."""
        if self._engine is None:
            missing = missing_database(self.settings.database_url)
            if missing is not None:
                raise DatabaseError(missing)
            engine = get_engine(self.settings.database_url)
            require_head(engine)
            self._engine = engine
        return self._engine

    def require_embedder(self) -> None:
        """Fail now, in one line, if FILEINTEL_EMBEDDER cannot work (before any document
        is claimed and failed for it)."""
        check_embedder(self.settings.embedder)


def app_context(ctx: click.Context) -> AppContext:
    """The invocation's ``AppContext``, made on first use from the group's global options."""
    app = ctx.meta.get(_APP_KEY)
    if app is None:
        options = ctx.find_object(GlobalOptions)
        if options is None:
            raise RuntimeError("a FileIntel command runs under the 'fileintel' group")
        app = ctx.meta[_APP_KEY] = AppContext(settings=options.settings, debug=options.debug)
    return app


def pass_app(f: Callable[Concatenate[AppContext, P], R]) -> Callable[P, R]:
    """Call the decorated command with the invocation's ``AppContext`` as first argument."""

    def with_app(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = click.get_current_context()
        return ctx.invoke(f, app_context(ctx), *args, **kwargs)

    return update_wrapper(with_app, f)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (datetimes are already ISO strings)."""
    click.echo(json.dumps(data, indent=2, default=str))


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit 1 (for errors found by the command itself)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def exit_code_for(status: str) -> int:
    """The documented exit code for a collection that ended in ``status``."""
    if status == CollectionStatus.COMPLETED_WITH_ERRORS:
        return EXIT_COMPLETED_WITH_ERRORS
    if status in (CollectionStatus.FAILED, CollectionStatus.CANCELLED):
        return EXIT_ERROR
    return EXIT_OK
