"""``fileintel`` as a process of its own, and its entry point in this process: the suite's one
set of process helpers.

- ``clean_env(extra)`` / ``cli_env(database_url, broker_url, extra)``: the environment of a
  subprocess, without any ``FILEINTEL_*`` variable of the test session's own.
- ``run_cli`` / ``run_cli_json``: run ``fileintel ARGS`` as a subprocess to completion.
- ``cli`` / ``cli_json``: the same through ``cli.main`` in this process (much cheaper, for
  commands that only read or write the database).
- ``start_process`` / ``stop_process`` / ``kill_group``: long-running ``fileintel`` processes
  (worker, relay, scheduler, watch) in their own process group, stopped when the test process
  dies; ``logs_of`` collects their logs for failure messages; ``children_of`` / ``gone``:
  a process's children (the embedded mode's worker processes) and whether they exited.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

FILEINTEL = str(Path(sys.executable).parent / "fileintel")


# --- environments -------------------------------------------------------------------------


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its ``FILEINTEL_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEINTEL_")}
    env.update(extra or {})
    return env


def cli_env(
    database_url: str, broker_url: str = "stub://", extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a ``fileintel`` subprocess: this database, this broker, no more."""
    env = clean_env(
        {
            "FILEINTEL_DATABASE_URL": database_url,
            "FILEINTEL_BROKER_URL": broker_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


# --- commands run to completion -----------------------------------------------------------


def run_cli(
    args: Iterable[str], env: Mapping[str, str], *, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``fileintel ARGS`` as a subprocess to completion; return its exit code and output."""
    return subprocess.run(
        [FILEINTEL, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli_json(args: Iterable[str], env: Mapping[str, str]) -> Any:
    """Run a ``--json`` command as a subprocess that must succeed; return its parsed output."""
    args = list(args)
    done = run_cli([*args, "--json"], env)
    assert done.returncode == 0, f"fileintel {' '.join(args)}: {done.returncode} {done.stderr}"
    return json.loads(done.stdout)


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


def cli_json(args: Iterable[str], env: Mapping[str, str]) -> Any:
    """Run a ``--json`` command in this process that must succeed; return its output."""
    args = list(args)
    done = cli([*args, "--json"], env)
    assert done.returncode == 0, f"fileintel {' '.join(args)}: {done.returncode} {done.stderr}"
    return json.loads(done.stdout)


# --- long-running processes ---------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM this process when the test process dies, so a killed test session
    never leaves a worker behind consuming a shared broker."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_process(
    args: Iterable[str],
    env: Mapping[str, str],
    log: Path,
    *,
    stderr_log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running ``fileintel ARGS`` in its own process group.

    Output goes to ``log``; stderr to ``stderr_log`` when given, else to ``log`` as well. It
    is stopped when the test process dies, even by SIGKILL (Linux).
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
                preexec_fn=_die_with_parent,
            )
        finally:
            if stderr_log is not None:
                err.close()


def stop_process(
    proc: subprocess.Popen[bytes], timeout: float = 20.0, *, group: bool = False
) -> int:
    """SIGTERM the process, then SIGKILL its whole group when it has not gone after
    ``timeout`` seconds; whatever is left of the group (its children) goes too. Returns the
    exit code: ``-9`` means it was killed.

    ``group=False`` signals only the main process, which stops its own children (``fileintel
    worker`` stopping its Dramatiq processes is part of what is tested); ``group=True``
    signals every process of the group at once.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    return kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL the process's whole group (e.g. a worker's dramatiq parent and its children)
    and return the process's exit code."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(10)


def logs_of(directory: Path) -> str:
    """Every ``*.log`` file of a directory, concatenated with headers (for failure messages)."""
    parts = []
    for path in sorted(directory.glob("*.log")):
        parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}")
    return "\n".join(parts)


def children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc``), e.g. ``fileintel run``'s workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def gone(pids: Iterable[int]) -> bool:
    """True when none of ``pids`` is alive any more (zombies count as gone)."""
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            return False
    return True
