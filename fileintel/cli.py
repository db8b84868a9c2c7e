"""The ``fileintel`` command: global options, error handling, and the command groups.

Commands parse, call one function, print. Any ``FileIntelError`` becomes one line on stderr
and exit code 1; usage errors exit 2; ``--debug`` shows the traceback as well. Every error
text and traceback printed here has the passwords of the given URLs masked, even when the
configuration itself could not be read.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Sequence

import click
from sqlalchemy.exc import DBAPIError

from fileintel.backends.diagnosis import one_line as database_problem
from fileintel.commands.common import EXIT_ERROR, EXIT_USAGE, AppContext
from fileintel.config import URL_VARIABLES, load_settings, redact, url_secrets
from fileintel.errors import FileIntelError
from fileintel.logs import mask_last_resort

#: The options that override URL_VARIABLES, in the same order.
URL_OPTIONS = ("--database-url", "--broker-url", "--events-url")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = AppContext(settings=settings, debug=debug)


def _register_commands() -> None:
    from fileintel.commands import (
        collections,
        db,
        operations,
        outbox,
        processing,
        relay,
        removal,
        runs,
        search,
        watch,
    )

    for group in (db.db, collections.collections, runs.runs):
        cli.add_command(group)
    for module in (outbox, relay, processing, search, operations):
        for command in module.COMMANDS:
            cli.add_command(command)
    for command in (*processing.COLLECTION_COMMANDS, *removal.COLLECTION_COMMANDS, watch.watch):
        collections.collections.add_command(command)


_register_commands()


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
    except DBAPIError as e:  # the database itself: its cause in one line
        if debug:
            click.echo(redact(traceback.format_exc(), secrets), err=True, nl=False)
        click.echo(redact(f"error: {database_problem(e)}", secrets), err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as e:  # a bug, not a user error: say so in one line
        if debug:
            click.echo(redact(traceback.format_exc(), secrets), err=True, nl=False)
        else:
            message = f"error: unexpected {type(e).__name__}: {e} (rerun with --debug for details)"
            click.echo(redact(message, secrets), err=True)
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
