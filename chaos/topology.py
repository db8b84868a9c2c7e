"""The deployment under test: ``fileintel`` workers, relays and schedulers as processes.

Each host runs one worker (a Dramatiq parent and its worker process) and one relay,
connected to the servers over the host's link; the two schedulers run beside the servers.
Every process keeps FileIntel's default lease, heartbeat, sweep interval and dispatch
timeout: the recovery times the run measures are the defaults'. Each process is its own
process group, so a SIGKILL takes a worker's children too, as the loss of its machine would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chaos.cleanup import MARKER, record_pid
from chaos.hosts import Host

FILEINTEL = str(Path(sys.executable).with_name("fileintel"))
#: Threads of each worker process: enough documents in flight for every fault to hit some.
WORKER_THREADS = 3


@dataclass
class Process:
    """One ``fileintel`` process that the faults stop and the run starts again."""

    name: str
    kind: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    host: Host | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        argv = [FILEINTEL, *self.argv]
        if self.host is not None:
            argv = self.host.command(argv)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        record_pid(Path(self.env[MARKER]), self.proc.pid)
        self.starts += 1

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the whole process group."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def terminate(self, grace: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code."""
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode


def environment(workdir: Path, database: str, broker: str, events: str) -> dict[str, str]:
    """A ``fileintel`` process's environment: these servers, the defaults for the rest."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("FILEINTEL_")}
    return keep | {
        MARKER: str(workdir),
        "FILEINTEL_DATABASE_URL": database,
        "FILEINTEL_BROKER_URL": broker,
        "FILEINTEL_EVENTS_URL": events,
        # debug: a line per document done, which shows a healed host carrying on.
        "FILEINTEL_LOG_LEVEL": "debug",
    }


def build(
    workdir: Path, hosts: list[Host], database: str, broker: str, events: str
) -> list[Process]:
    """The processes: a worker and a relay per host, and two schedulers.

    ``database``, ``broker`` and ``events`` are URLs with ``{host}`` standing for the
    address the process reaches the servers at.
    """

    def env(address: str) -> dict[str, str]:
        return environment(
            workdir,
            database.format(host=address),
            broker.format(host=address),
            events.format(host=address),
        )

    procs: list[Process] = []
    for host in hosts:
        address, n = host.names.server_address, host.names.n
        worker = ["worker", "--processes", "1", "--threads", str(WORKER_THREADS)]
        for kind, argv in (("worker", worker), ("relay", ["relay"])):
            name = f"{kind}-h{n}"
            procs.append(Process(name, kind, argv, env(address), workdir / f"{name}.log", host))
    for i in (1, 2):
        name = f"scheduler-{i}"
        log = workdir / f"{name}.log"
        procs.append(Process(name, "scheduler", ["scheduler"], env("127.0.0.1"), log))
    return procs
