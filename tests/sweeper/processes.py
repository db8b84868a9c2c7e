"""The sweeper suite's ``fileintel`` processes: the entry point in this process
(``cli``, ``run_json``), and subprocesses in their own process group pointed at one
database only (``cli_env``, ``run_cli``, ``start_process``, ``kill_group``,
``stop_process``, ``logs_of``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.processes import (  # noqa: F401 - re-exported for the suite
    FILEINTEL,
    cli_env,
    kill_group,
    run_cli,
)

# --- subprocesses -------------------------------------------------------------------------


def cli(args: Iterable[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``fileintel ARGS`` in this process through its entry point (``cli.main``).

    The environment is swapped for ``env`` and stdout/stderr captured for the call; much
    cheaper than a subprocess for the commands that only read or write the database.
    """
    from fileintel.cli import main

    args = list(args)
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess([FILEINTEL, *args], code, out.getvalue(), err.getvalue())


def run_json(args: Iterable[str], env: Mapping[str, str]) -> Any:
    """Run a ``--json`` command in this process that must succeed; return its output."""
    args = list(args)
    done = cli([*args, "--json"], env)
    assert done.returncode == 0, f"fileintel {' '.join(args)}: {done.returncode} {done.stderr}"
    return json.loads(done.stdout)


def start_process(
    args: Iterable[str],
    env: Mapping[str, str],
    log: Path,
    *,
    stderr_log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running ``fileintel`` process in its own process group.

    Output goes to ``log``; stderr to ``stderr_log`` when given, else to ``log`` as well.
    """
    with log.open("ab") as out:
        err: Any = subprocess.STDOUT
        if stderr_log is not None:
            err = stderr_log.open("ab")
        try:
            return subprocess.Popen(
                [FILEINTEL, *args],
                env=dict(env),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        finally:
            if stderr_log is not None:
                err.close()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int | None:
    """SIGTERM the process group, then SIGKILL it when it has not gone after ``timeout``."""
    if proc.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of a group whose leader died
        return proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return proc.wait()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return kill_group(proc)


def logs_of(directory: Path) -> str:
    """Every ``*.log`` file of a directory, concatenated with headers (for failure messages)."""
    parts = []
    for path in sorted(directory.glob("*.log")):
        parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}")
    return "\n".join(parts)
