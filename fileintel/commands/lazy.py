"""Command groups whose subcommands are imported when they are run, not when the CLI starts.

A command's module imports what the command needs (SQLAlchemy, the pipeline, the relay...);
importing all of them costs most of a second before any argument is parsed. A
``LazyGroup`` knows its subcommands from a static table (name -> ``"module:attribute"``
and the first line of the command's docstring), imports a command's module only when that
command is resolved, and lists its commands in ``--help`` from the table alone. A test
resolves every entry and checks the table's help against the command's docstring.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is defined, and its one-line help for the group's command list."""

    target: str  # "package.module:attribute"
    help: str  # the first line of the command's docstring

    def load(self) -> click.Command:
        """Import the command's module and return the command."""
        module_name, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """A ``click.Group`` that also has lazily imported subcommands (click's lazy-group
    pattern), with commands added the ordinary way beside them."""

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, LazyCommand] = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            command = self.lazy_commands[cmd_name].load()
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as e:
            # click suggests close names among the commands added the ordinary way only.
            raise click.exceptions.NoSuchCommand(
                e.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, as ``click.Group`` writes it, without importing
        the lazy commands: their help comes from the table."""
        commands = [(name, self._listed(ctx, name)) for name in self.list_commands(ctx)]
        shown = [(name, command) for name, command in commands if not command.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        rows = [(name, command.get_short_help_str(limit)) for name, command in shown]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _listed(self, ctx: click.Context, name: str) -> click.Command:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        # A stand-in carrying the table's help: click shortens it as it would the real one.
        return click.Command(name, help=self.lazy_commands[name].help)
