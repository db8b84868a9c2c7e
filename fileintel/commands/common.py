"""What every command shares: the application context, output helpers, exit codes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click
from sqlalchemy import Engine

from fileintel.config import Settings
from fileintel.db import get_engine, missing_database
from fileintel.errors import DatabaseError
from fileintel.models.states import CollectionStatus
from fileintel.pipeline.embedding import check_embedder

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_COMPLETED_WITH_ERRORS = 3


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
            from fileintel.migrate import require_head

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


pass_app = click.make_pass_decorator(AppContext)


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
