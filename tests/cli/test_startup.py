"""``fileintel --help`` and ``collections status --json`` do not import what they do not use.

Structural, not timed: each runs the installed script in a fresh interpreter, through a
wrapper that writes ``sys.modules`` to a file when the command has finished (``-X importtime``
would not list the modules that ``importlib.import_module`` loads, such as the commands'
modules). The timing against the targets is ``benchmarks/cli_startup/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.support import STATUS_KEYS
from tests.processes import FILEINTEL

#: Packages neither command may import: brokers, the relay's and the sweeper's libraries,
#: the pipeline's numeric and PDF libraries, metrics, the progress bar, and Alembic.
HEAVY = (
    "alembic",
    "apscheduler",
    "dramatiq",
    "numpy",
    "pika",
    "prometheus_client",
    "pypdf",
    "redis",
    "rich",
    "fileintel.pipeline",
    "fileintel.outbox.relay",
    "fileintel.workers",
    # SQLite's status never needs PostgreSQL's dialect (models.partial_indexes keeps the
    # indexes that would load it out of the import).
    "sqlalchemy.dialects.postgresql",
    "fileintel.backends.postgresql",
)
#: The modules of ``fileintel.commands`` that the group itself needs to parse arguments.
GROUP_MODULES = {"fileintel.commands", "fileintel.commands.invocation", "fileintel.commands.lazy"}
#: What ``collections status`` adds: its module, the shared helpers and the text renderer.
STATUS_MODULES = {
    "fileintel.commands.status",
    "fileintel.commands.common",
    "fileintel.commands.render",
}


#: Runs the script given as its second argument as ``__main__``, then writes the names of
#: the loaded modules as JSON to the file given as its first.
WRAPPER = """
import json, runpy, sys
modules_file, script, *args = sys.argv[1:]
sys.argv = [script, *args]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    with open(modules_file, "w") as f:
        json.dump(sorted(sys.modules), f)
"""


def imported_modules(*args: str, env: dict[str, str], tmp_path: Path) -> tuple[set[str], str]:
    """Run the installed ``fileintel`` script with ``args``; return the modules it had
    loaded when it finished, and its stdout."""
    modules_file = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(modules_file), FILEINTEL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(json.loads(modules_file.read_text()))
    assert "fileintel.cli" in modules
    return modules, done.stdout


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY))


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEINTEL_")}
    env["FILEINTEL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'fileintel.db'}"
    return env


def test_help_imports_click_and_the_group_only(tmp_path: Path) -> None:
    modules, out = imported_modules("--help", env=environment(tmp_path), tmp_path=tmp_path)
    assert "collections" in out and "worker" in out
    assert heavy(modules) == []
    assert not any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in modules)
    commands = {m for m in modules if m.startswith("fileintel.commands")}
    assert commands == GROUP_MODULES


def test_collections_help_imports_no_command_module(tmp_path: Path) -> None:
    modules, out = imported_modules(
        "collections", "--help", env=environment(tmp_path), tmp_path=tmp_path
    )
    assert "status" in out and "watch" in out
    assert {m for m in modules if m.startswith("fileintel.commands")} == GROUP_MODULES
    assert "sqlalchemy" not in modules


def test_collection_status_json_on_sqlite_stays_light(tmp_path: Path) -> None:
    env = environment(tmp_path)
    for args in (["db", "upgrade"], ["collections", "create", "light"]):
        subprocess.run([FILEINTEL, *args], env=env, check=True, capture_output=True, timeout=120)
    modules, out = imported_modules(
        "collections", "status", "light", "--json", env=env, tmp_path=tmp_path
    )
    view = json.loads(out)
    assert view["name"] == "light" and set(view) >= STATUS_KEYS
    assert heavy(modules) == []
    # The status command's module and what it uses; not registration, processing, the
    # follower or the other groups.
    loaded = {m for m in modules if m.startswith("fileintel.commands")}
    assert loaded == GROUP_MODULES | STATUS_MODULES
