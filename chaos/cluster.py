"""The run's own servers: a PostgreSQL cluster and two Redis servers, on free ports.

PostgreSQL is initialised into the run's folder (``initdb``; as the ``postgres`` user when
the run is root, since PostgreSQL refuses to run as root) and crashed with ``pg_ctl stop -m
immediate``: shared memory and unflushed WAL are lost, as in a power cut of the database
alone. The broker Redis keeps nothing (a restart loses every queued message); the events
Redis writes every command to its append-only file before answering (``appendfsync
always``), so its stream survives a kill. The machine's own services are never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from chaos.cleanup import MARKER, record_pid

#: How long a server may take to answer after a start.
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; raise naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def server_env(workdir: Path) -> dict[str, str]:
    """The environment of a server: the machine's, with the run's marker."""
    return {**os.environ, MARKER: str(workdir)}


class Postgres:
    """A PostgreSQL cluster in ``workdir/pg`` listening on 127.0.0.1 and ``addresses``."""

    def __init__(self, workdir: Path, addresses: list[str]):
        self.workdir = workdir
        self.data = workdir / "pg"
        self.port = free_port()
        self.addresses = ["127.0.0.1", *addresses]
        self.log = workdir / "postgres.log"
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, host: str = "127.0.0.1", database: str = "chaos") -> str:
        return f"postgresql+psycopg2://postgres@{host}:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        subprocess.run(
            [*self._as_user, *argv],
            check=True,
            capture_output=True,
            env=server_env(self.workdir),
            cwd=self.workdir,
        )

    def init(self) -> None:
        self.data.mkdir()
        if self._as_user:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.data, "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{','.join(self.addresses)}'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.data}'\n"
                "max_connections = 200\n"
                "fsync = on\n"
            )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.213.0.0/16 trust\n")
        self.start()
        engine = create_engine(self.url(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE chaos"))
        engine.dispose()

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        record_pid(self.workdir, pid)

    def crash(self) -> None:
        """Stop at once, without a checkpoint: what a crash of the server does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "stop")


class Redis:
    """A ``redis-server`` on a free port: without persistence, or ``appendfsync always``."""

    def __init__(self, workdir: Path, name: str, addresses: list[str], *, durable: bool):
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.addresses = ["127.0.0.1", *addresses]
        self.durable = durable
        self.proc: subprocess.Popen[bytes] | None = None
        (workdir / name).mkdir(exist_ok=True)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"redis://{host}:{self.port}/0"

    def start(self) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.durable
            else ["--appendonly", "no"]
        )
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                *self.addresses,
                "--protected-mode",
                "no",
                "--save",
                "",
                *persistence,
                "--dir",
                str(self.workdir / self.name),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(self.workdir),
            cwd=self.workdir / self.name,  # how a later run recognises it (cleanup.started_by)
            start_new_session=True,
        )
        log.close()
        record_pid(self.workdir, self.proc.pid)
        client = redis.Redis(port=self.port, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers, START_TIMEOUT, f"redis-server {self.name}")
        client.close()

    def kill(self) -> None:
        """SIGKILL: whatever was only in memory is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
