"""The command tables of ``fileintel.cli`` and the commands they name cannot drift apart.

``--help`` lists the lazily imported commands from the tables alone; these tests resolve
every entry and compare.
"""

from __future__ import annotations

import importlib
import pkgutil

import click
import pytest

import fileintel.commands
from fileintel.cli import COLLECTION_COMMANDS, COMMANDS, cli, main
from fileintel.commands.lazy import LazyCommand, LazyGroup

TABLES: dict[str, dict[str, LazyCommand]] = {
    "fileintel": COMMANDS,
    "fileintel collections": COLLECTION_COMMANDS,
}
ENTRIES = [(group, name, entry) for group, table in TABLES.items() for name, entry in table.items()]
PARAMS = [pytest.param(*e, id=f"{e[0]} {e[1]}") for e in ENTRIES]


def collections_group() -> LazyGroup:
    group = cli.commands["collections"]
    assert isinstance(group, LazyGroup)
    return group


@pytest.mark.parametrize(("group", "name", "entry"), PARAMS)
def test_every_entry_resolves_to_a_command_of_that_name(
    group: str, name: str, entry: LazyCommand
) -> None:
    command = entry.load()
    assert command.name == name, f"{group} {name}: {entry.target} is named {command.name!r}"


@pytest.mark.parametrize(("group", "name", "entry"), PARAMS)
def test_table_help_is_the_first_line_of_the_docstring(
    group: str, name: str, entry: LazyCommand
) -> None:
    command = entry.load()
    assert command.help is not None, f"{group} {name} has no docstring"
    first_paragraph = command.help.split("\n\n", 1)[0]
    # click shortens the first paragraph: it must be that one line for the lists to agree.
    assert first_paragraph == entry.help, f"update the table entry of '{group} {name}'"


@pytest.mark.parametrize("group", [cli, collections_group()], ids=["fileintel", "collections"])
def test_help_lists_the_commands_as_click_would_with_them_imported(group: LazyGroup) -> None:
    ctx = click.Context(group, info_name=group.name)
    lazy = click.HelpFormatter(width=80)
    group.format_commands(ctx, lazy)
    eager = click.HelpFormatter(width=80)
    click.Group.format_commands(group, ctx, eager)  # resolves (imports) every command
    assert lazy.getvalue() == eager.getvalue()
    assert lazy.getvalue().count("\n") == len(group.list_commands(ctx)) + 1


def test_every_command_module_command_is_reachable_from_a_table() -> None:
    """A command written in ``fileintel.commands`` but missing from the tables would never
    run: every top-level click command there is a table entry or a subcommand of one."""
    reachable: set[int] = set()
    for entry in (e for _, _, e in ENTRIES):
        command = entry.load()
        reachable.add(id(command))
        if isinstance(command, click.Group):
            reachable.update(id(sub) for sub in command.commands.values())
    for info in pkgutil.iter_modules(fileintel.commands.__path__):
        module = importlib.import_module(f"fileintel.commands.{info.name}")
        for attribute, value in vars(module).items():
            if not isinstance(value, click.Command) or value.callback is None:
                continue
            if value.callback.__module__ == module.__name__:
                assert id(value) in reachable, f"{module.__name__}.{attribute} is in no table"


def test_unknown_commands_are_usage_errors_with_suggestions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ctx = click.Context(cli, info_name="fileintel")
    assert cli.get_command(ctx, "no-such-command") is None
    assert collections_group().get_command(ctx, "no-such-command") is None
    assert main(["collections", "statu", "x"]) == 2
    assert "No such command 'statu'. Did you mean 'status'?" in capsys.readouterr().err
    assert main(["sweeep"]) == 2
    assert "No such command 'sweeep'. Did you mean 'sweep'?" in capsys.readouterr().err


def test_a_target_that_is_not_a_command_is_refused() -> None:
    with pytest.raises(TypeError, match="not a click command"):
        LazyCommand("fileintel.commands.invocation:EXIT_OK", "").load()
