"""The ``fileintel`` command: global options, error handling, and the command groups.

Commands parse, call one function, print. Any ``FileIntelError`` becomes one line on stderr
and exit code 1; usage errors exit 2; ``--debug`` shows the traceback as well. Every error
text and traceback printed here has the passwords of the given URLs masked, even when the
configuration itself could not be read.

The commands live in ``fileintel.commands``, one module per subject, and are imported only
when they run (``fileintel.commands.lazy``): the tables below name each command's module
and its one-line help, so ``fileintel --help`` answers without importing any of them. A new
command is a function in its module and a row here; ``tests/cli/test_lazy_commands.py``
checks that every row resolves to a command whose docstring starts with that help.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import traceback
from collections.abc import Sequence

import click

from fileintel.commands.invocation import EXIT_ERROR, EXIT_USAGE, GlobalOptions
from fileintel.commands.lazy import LazyCommand, LazyGroup
from fileintel.config import URL_VARIABLES, load_settings, redact, url_secrets
from fileintel.errors import FileIntelError
from fileintel.logs import mask_last_resort

#: The options that override URL_VARIABLES, in the same order.
URL_OPTIONS = ("--database-url", "--broker-url", "--events-url")

#: The top-level commands, by name (``collections`` is the group below).
COMMANDS: dict[str, LazyCommand] = {
    "db": LazyCommand("fileintel.commands.db:db", "Create or migrate the database schema."),
    "doctor": LazyCommand(
        "fileintel.commands.operations:doctor",
        "Check database, broker, events sink, relay, scheduler, workers and stuck collections.",
    ),
    "ingest": LazyCommand(
        "fileintel.commands.processing:ingest",
        "Add PATHS to a collection, process it, follow progress and summarise.",
    ),
    "outbox": LazyCommand(
        "fileintel.commands.outbox:outbox",
        "The transactional outbox (what the relay still has to publish).",
    ),
    "relay": LazyCommand(
        "fileintel.commands.relay:relay",
        "Publish committed outbox rows: broker messages and events.",
    ),
    "run": LazyCommand(
        "fileintel.commands.processing:run_embedded",
        "Run worker processes, relay and sweeper on this database (the embedded mode).",
    ),
    "runs": LazyCommand(
        "fileintel.commands.runs:runs",
        "Processing runs (the task ids printed by process and ingest).",
    ),
    "scheduler": LazyCommand(
        "fileintel.commands.operations:scheduler",
        "Run the sweeper on a timer (one active scheduler at a time; others stand by).",
    ),
    "search": LazyCommand(
        "fileintel.commands.search:search",
        "Find the chunks of a collection that answer QUERY (by meaning and by words).",
    ),
    "sweep": LazyCommand(
        "fileintel.commands.operations:sweep",
        "Run one sweep pass now (the collection/run audit included) and print its decisions.",
    ),
    "web": LazyCommand(
        "fileintel.commands.web:web",
        "Serve the JSON API, the live event stream and the status pages (read-only).",
    ),
    "worker": LazyCommand(
        "fileintel.commands.processing:worker",
        "Run Dramatiq workers (the same as 'dramatiq fileintel.workers').",
    ),
}

#: The subcommands of ``fileintel collections``, by name.
COLLECTION_COMMANDS: dict[str, LazyCommand] = {
    "delete": LazyCommand(
        "fileintel.commands.removal:delete",
        "Delete a collection with its documents, chunks, runs and history (asks unless --yes).",
    ),
    "remove": LazyCommand(
        "fileintel.commands.removal:remove",
        "Remove documents (files, or everything under directories) from a collection.",
    ),
    "reembed": LazyCommand(
        "fileintel.commands.reembed:reembed",
        "Embed the stored chunks of a collection again (a new run: status, history, events).",
    ),
    "add": LazyCommand(
        "fileintel.commands.collections:add",
        "Register files and directories (recursively) as documents of a collection.",
    ),
    "cancel": LazyCommand(
        "fileintel.commands.processing:cancel", "Cancel the queued or running run of a collection."
    ),
    "create": LazyCommand(
        "fileintel.commands.collections:create", "Create an empty collection called NAME."
    ),
    "documents": LazyCommand(
        "fileintel.commands.collections:documents",
        "The documents of a collection and their state in the current run.",
    ),
    "history": LazyCommand(
        "fileintel.commands.status:history_",
        "Every status change of a collection, with time, run, actor and message.",
    ),
    "list": LazyCommand(
        "fileintel.commands.status:list_", "List collections with their status and warnings."
    ),
    "process": LazyCommand(
        "fileintel.commands.collections:process",
        "Request processing of every document of a collection (a new run).",
    ),
    "retry": LazyCommand(
        "fileintel.commands.processing:retry",
        "Process again only the documents that failed (a new run).",
    ),
    "status": LazyCommand(
        "fileintel.commands.status:status", "Is the collection done, and if not, why?"
    ),
    "watch": LazyCommand(
        "fileintel.commands.watch:watch",
        "Print each event of a collection as it happens, until it ends.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--database-url", envvar=None, help="Overrides FILEINTEL_DATABASE_URL.")
@click.option("--broker-url", envvar=None, help="Overrides FILEINTEL_BROKER_URL.")
@click.option("--events-url", envvar=None, help="Overrides FILEINTEL_EVENTS_URL.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="fileintel")
@click.pass_context
def cli(
    ctx: click.Context,
    database_url: str | None,
    broker_url: str | None,
    events_url: str | None,
    debug: bool,
) -> None:
    """FileIntel: turn folders of documents into searchable knowledge, and always know
    whether a collection is done, and if not, why."""
    settings = load_settings().with_overrides(
        database_url=database_url, broker_url=broker_url, events_url=events_url
    )
    mask_last_resort(settings.secrets)
    ctx.obj = GlobalOptions(settings=settings, debug=debug)


@cli.group(cls=LazyGroup, lazy_commands=COLLECTION_COMMANDS)
def collections() -> None:
    """Collections of documents and their processing status."""


def given_secrets(args: Sequence[str]) -> frozenset[str]:
    """The passwords in the URL variables and URL options as given, read without validating:
    the error that says a URL is malformed must not show it either."""
    urls = [os.environ.get(name) for name in URL_VARIABLES]
    for i, arg in enumerate(args):
        for option in URL_OPTIONS:
            if arg == option and i + 1 < len(args):
                urls.append(args[i + 1])
            elif arg.startswith(option + "="):
                urls.append(arg.partition("=")[2])
    return url_secrets(*urls)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fileintel`` console script; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    secrets = given_secrets(args)
    try:
        result = cli.main(args=args, prog_name="fileintel", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except click.ClickException as e:
        shown = io.StringIO()
        e.show(shown)
        click.echo(redact(shown.getvalue(), secrets), err=True, nl=False)
        return EXIT_USAGE if isinstance(e, click.UsageError) else EXIT_ERROR
    except FileIntelError as e:
        if debug:
            click.echo(redact(traceback.format_exc(), secrets), err=True, nl=False)
        click.echo(redact(f"error: {e}", secrets), err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as e:  # a bug, not a user error: say so in one line
        if debug:
            click.echo(redact(traceback.format_exc(), secrets), err=True, nl=False)
        problem = database_problem(e)
        if problem is not None:  # the database itself: its cause in one line
            click.echo(redact(f"error: {problem}", secrets), err=True)
        elif not debug:
            message = f"error: unexpected {type(e).__name__}: {e} (rerun with --debug for details)"
            click.echo(redact(message, secrets), err=True)
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())


def database_problem(error: Exception) -> str | None:
    """The cause of a database driver's error in one line; None for any other error.

    SQLAlchemy is only imported by commands that touch a database, so ``--help`` and the
    like never load it to look at an error they cannot have raised.
    """
    driver_errors = sys.modules.get("sqlalchemy.exc")
    if driver_errors is None or not isinstance(error, driver_errors.DBAPIError):
        return None
    diagnosis = importlib.import_module("fileintel.backends.diagnosis")
    return str(diagnosis.one_line(error))
