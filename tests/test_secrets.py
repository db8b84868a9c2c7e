"""No password is ever printed: every URL through ``mask_url``, every other text through
``redact``, in every command, process, log format and error path.

Each URL below carries a distinctive password; every test greps all the output it captured
for all of them. The services they name are unreachable on purpose (port 1): the failing
connections are where drivers' messages, tracebacks and retries get printed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from fileintel.cli import main
from fileintel.config import MASK, Settings, load_settings, mask_url, redact, url_secrets
from tests.helpers import wait_for
from tests.processes import FILEINTEL, cli_env, kill_group

DB_SECRET, OK_SECRET = "Sekr1tDB", "Sekr1tOK"
REDIS_SECRET, AMQP_SECRET, EVENTS_SECRET = "Sekr1tBROKER", "Sekr1tAMQP", "Sekr1tEV"
SECRETS = (DB_SECRET, OK_SECRET, REDIS_SECRET, AMQP_SECRET, EVENTS_SECRET, "PASSWORD")

UNREACHABLE_DB = f"postgresql+psycopg2://postgres:{DB_SECRET}@127.0.0.1:1/x"
REDIS_BROKER = f"redis://:{REDIS_SECRET}@127.0.0.1:1/0"
AMQP_BROKER = f"amqp://u:{AMQP_SECRET}@127.0.0.1:1/"
EVENTS = f"redis://:{EVENTS_SECRET}@127.0.0.1:1/0"
MALFORMED = [
    "postgres://u:PASSWORD@[::1/x",
    "mysql://u:PASSWORD@localhost/db",
    "postgresql+asyncpg://u:PASSWORD@localhost/db",
    "sqlite://u:PASSWORD@/x.db",
    "ftp://u:PASSWORD@x",
    "postgres://u:PASSWORD\uff03@localhost/db",  # urlsplit's own error quotes the netloc
]
URL_VARIABLES = ("FILEINTEL_DATABASE_URL", "FILEINTEL_BROKER_URL", "FILEINTEL_EVENTS_URL")
TIMEOUT = 60.0


def assert_clean(text: str, what: str = "output") -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{what} shows {leaked}:\n{text[-4000:]}"


# --- mask_url, url_secrets, redact ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (UNREACHABLE_DB, "postgresql+psycopg2://postgres:***@127.0.0.1:1/x"),
        (REDIS_BROKER, "redis://:***@127.0.0.1:1/0"),
        (AMQP_BROKER, "amqp://u:***@127.0.0.1:1/"),
        ("postgresql://u:PASSWORD%40x@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("redis://:PASSWORD@PASSWORD@h/0", "redis://:***@h/0"),
        ("redis://:PASS/WORD@h/0", "redis://***@h/0"),
        ("postgres://u:PASSWORD@[::1/x", "postgres://***@[::1/x"),
        ("postgres://u:PASSWORD\uff03@h/db", "postgres://***@h/db"),
        ("sqlite://u:PASSWORD@/x.db", "sqlite://u:***@/x.db"),
        ("ftp://u:PASSWORD@x", "ftp://u:***@x"),
        ("u:PASSWORD@host/db", "***@host/db"),
        ("postgresql://h/db?user=u&password=PASSWORD", "postgresql://h/db?user=u&password=***"),
        ("rediss://:PASSWORD@h/0?token=PASSWORD&ssl=1", "rediss://:***@h/0?token=***&ssl=1"),
        ("postgresql://u:PASSWORD@h/db?options=a@b", "postgresql://***@b"),
        ("sqlite:////var/lib/fileintel.db", "sqlite:////var/lib/fileintel.db"),
        ("amqp://guest@h:5672/", "amqp://guest@h:5672/"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("stub://", "stub://"),
        ("", ""),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert_clean(mask_url(url))


_USER = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=8)
_PASSWORD = st.text(st.characters(codec="utf-8", exclude_characters="\n"), min_size=4)


@given(user=_USER, password=_PASSWORD, scheme=st.sampled_from(["postgresql", "redis", "amqp"]))
def test_mask_url_hides_any_password(user: str, password: str, scheme: str) -> None:
    url = f"{scheme}://{user}:{password}@db.example:5432/name"
    # Not found elsewhere in the URL, and not made of the mask's own character.
    assume(password not in url.replace(f":{password}@", ":@") and "*" not in password)
    assert password not in mask_url(url)
    assert password not in redact(f"driver said: {password} failed", url_secrets(url))


@given(st.text())
def test_mask_url_and_redact_never_raise(text: str) -> None:
    assert isinstance(mask_url(text), str)
    assert isinstance(redact(text, url_secrets(text)), str)


def test_redact_replaces_each_password_literal() -> None:
    settings = load_settings(
        {
            "FILEINTEL_DATABASE_URL": "postgres://u:p%40ss@h/db",
            "FILEINTEL_BROKER_URL": AMQP_BROKER,
            "FILEINTEL_EVENTS_URL": EVENTS,
        }
    )
    text = f"dsn password=p@ss; {AMQP_SECRET} and {EVENTS_SECRET}; p%40ss"
    assert redact(text, settings) == f"dsn password={MASK}; {MASK} and {MASK}; {MASK}"
    assert redact("nothing secret", frozenset()) == "nothing secret"
    # A literal counts where it stands alone: a short password does not garble words.
    assert redact("expected x, pass: x", url_secrets("redis://:x@h/0")) == "expected ***, pass: ***"


def test_settings_never_show_a_password_in_repr() -> None:
    settings = Settings(database_url=UNREACHABLE_DB, broker_url=AMQP_BROKER, events_url=EVENTS)
    assert_clean(repr(settings))
    assert "postgres:***@127.0.0.1:1/x" in repr(settings)


def test_log_formatters_mask_messages_and_tracebacks() -> None:
    import logging

    from fileintel.logs import JsonFormatter, TextFormatter

    secrets = url_secrets(UNREACHABLE_DB, REDIS_BROKER)
    try:
        raise RuntimeError(f"cannot connect with {DB_SECRET}")
    except RuntimeError as e:
        record = logging.LogRecord(
            "fileintel.test", logging.ERROR, __file__, 1, "%s", (REDIS_BROKER,), (type(e), e, None)
        )
    for formatter in (TextFormatter(secrets), JsonFormatter(secrets)):
        line = formatter.format(record)
        assert_clean(line)
        assert MASK in line


# --- every command, as a real process, with every service unreachable -------------------


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    def check(self, code: int = 1) -> None:
        """The expected exit, no password anywhere, and no traceback unless asked for."""
        shown = f"fileintel {' '.join(self.args)} -> {self.code}\n{self.out}{self.err}"
        assert self.code == code, shown
        assert_clean(self.out + self.err, f"fileintel {' '.join(self.args)}")
        if "--debug" not in self.args:
            assert "Traceback" not in self.err, shown


def run_all(jobs: Sequence[tuple[list[str], Mapping[str, str]]], tmp: Path) -> list[Result]:
    """Run ``fileintel ARGS`` for every job at the same time, each for a bounded time."""
    started = []
    for i, (args, env) in enumerate(jobs):
        out, err = tmp / f"job{i}.out", tmp / f"job{i}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen([FILEINTEL, *args], env=dict(env), stdout=o, stderr=e)
        started.append((args, out, err, proc))
    results = []
    for args, out, err, proc in started:
        try:
            code = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        results.append(Result(args, code, out.read_text(), err.read_text()))
    return results


def secret_env(database_url: str, broker_url: str, log_format: str = "text") -> dict[str, str]:
    """Every URL with its password; the given log format."""
    return cli_env(
        database_url,
        broker_url,
        {"FILEINTEL_EVENTS_URL": EVENTS, "FILEINTEL_LOG_FORMAT": log_format},
    )


#: Without --debug and text logs, with --debug and JSON logs: each subprocess costs a second
#: of CPU, and the long-running processes below cover both formats on a live database.
VARIANTS = [((), "text"), (("--debug",), "json")]
COMMANDS = [
    ["doctor"],
    ["doctor", "--json"],
    ["collections", "list"],
    ["collections", "status", "c"],
    ["collections", "create", "c"],
    ["db", "current"],
    ["outbox", "status", "--json"],
    ["sweep", "--dry-run"],
]
DAEMONS = [["run"], ["worker"], ["relay"], ["scheduler"]]
#: The broker URL changes what doctor, run and worker say; the rest only carry it.
CASES = [(c, REDIS_BROKER) for c in COMMANDS + DAEMONS] + [
    (c, broker)
    for c in (["doctor"], ["doctor", "--json"], ["run"], ["worker"])
    for broker in (AMQP_BROKER, "stub://")
]


@pytest.mark.parametrize(
    ("command", "broker"), CASES, ids=[f"{' '.join(c)}-{b.split(':')[0]}" for c, b in CASES]
)
def test_no_command_prints_a_password(command: list[str], broker: str, tmp_path: Path) -> None:
    jobs = [
        ([*flags, *command], secret_env(UNREACHABLE_DB, broker, log_format))
        for flags, log_format in VARIANTS
    ]
    for result in run_all(jobs, tmp_path):
        result.check(1)
        if command[0] == "doctor":  # each URL is shown, masked
            assert "postgres:***@127.0.0.1:1/x" in result.out
            assert "redis://:***@127.0.0.1:1/0" in result.out
            assert broker != AMQP_BROKER or "amqp://u:***@127.0.0.1:1/" in result.out


@pytest.mark.parametrize("variable", URL_VARIABLES)
def test_a_malformed_url_is_named_in_one_masked_line(variable: str, tmp_path: Path) -> None:
    env = secret_env(UNREACHABLE_DB, REDIS_BROKER)
    jobs: list[tuple[list[str], Mapping[str, str]]] = [
        (["collections", "list"], {**env, variable: url}) for url in MALFORMED
    ]
    option = "--" + variable.removeprefix("FILEINTEL_").lower().replace("_", "-")
    jobs += [
        ([option, MALFORMED[0], "doctor"], env),
        # With --debug the traceback shows: not urlsplit's message, which quotes the netloc.
        (["--debug", "collections", "list"], {**env, variable: MALFORMED[-1]}),
    ]
    for result in run_all(jobs, tmp_path):
        result.check(1)
        if "--debug" not in result.args:
            assert result.out == ""
            lines = result.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"error: {variable}: "), result.err
            assert "***" in lines[0], lines[0]


def test_a_password_with_an_unescaped_at_sign(tmp_path: Path) -> None:
    """The driver splits ``Sekr@1tXY`` at the '@' and names "1tXY@127.0.0.1" as the host."""
    url = "postgresql://u:PASSWORD@1tXY@127.0.0.1:1/x"
    env = secret_env(UNREACHABLE_DB, REDIS_BROKER)
    jobs = [
        (["--database-url", url, "collections", "list"], env),
        (["--database-url", url, "doctor"], env),
    ]
    for result in run_all(jobs, tmp_path):
        result.check(1)
        assert "1tXY" not in result.out + result.err, result.out + result.err


# --- the processes, on a reachable database, failing to reach the broker and events ---------


@pytest.fixture
def secret_db_url(db_url: str) -> str:
    """The test database; on PostgreSQL with a password (trust auth accepts any)."""
    if db_url.startswith("sqlite"):
        return db_url
    return make_url(db_url).set(password=OK_SECRET).render_as_string(hide_password=False)


def prepare(database_url: str, broker_url: str, tmp_path: Path) -> None:
    """A collection with a queued run: event and dispatch rows for the relay to fail on.

    In this process: only what the processes under test print matters here.
    """
    doc = tmp_path / "doc.txt"
    doc.write_text("alpha beta gamma")
    steps = [["collections", "create", "c"], ["collections", "add", "c", str(doc)]]
    if broker_url != "stub://":
        steps.append(["collections", "process", "c"])
    for step in steps:
        assert main(["--database-url", database_url, "--broker-url", broker_url, *step]) == 0


@contextlib.contextmanager
def running(
    args: list[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running process in its own group, output to ``log``; killed if still there."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [FILEINTEL, *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            kill_group(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal the process group and wait for it; SIGKILL after a bounded wait."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        return kill_group(proc)


#: (args, broker, log format, what the log shows once the failing connections were tried)
PROCESSES = [
    (["run"], "stub://", "text", ["FileIntel running on", "event sink unavailable"]),
    (["--debug", "run"], "stub://", "json", ["FileIntel running on", "event sink unavailable"]),
    (["worker", "--processes", "1", "--threads", "1"], REDIS_BROKER, "text", ["connection error"]),
    (
        ["--debug", "worker", "--processes", "1", "--threads", "1"],
        AMQP_BROKER,
        "json",
        ["connection error"],
    ),
    (["relay"], AMQP_BROKER, "text", ["dispatch sink unavailable", "event sink unavailable"]),
    (
        ["--debug", "relay"],
        REDIS_BROKER,
        "json",
        ["dispatch sink unavailable", "event sink unavailable"],
    ),
    (["scheduler"], REDIS_BROKER, "text", ["now the leader"]),
    (["--debug", "scheduler"], AMQP_BROKER, "json", ["now the leader"]),
]


@pytest.mark.parametrize(
    ("args", "broker", "log_format", "signs"),
    PROCESSES,
    ids=[f"{a[a[0] == '--debug']}-{b.split(':')[0]}-{f}" for a, b, f, _ in PROCESSES],
)
def test_no_process_prints_a_password(
    secret_db_url: str,
    tmp_path: Path,
    args: list[str],
    broker: str,
    log_format: str,
    signs: list[str],
) -> None:
    prepare(secret_db_url, broker, tmp_path)
    log = tmp_path / "process.log"
    with running(args, secret_env(secret_db_url, broker, log_format), log) as proc:
        wait_for(
            lambda: proc.poll() is not None or all(s in log.read_text() for s in signs),
            TIMEOUT,
            f"{' '.join(args)} to log {signs}",
            interval=0.1,
            details=log.read_text,
        )
        assert proc.poll() is None, log.read_text()
        code = stop(proc, signal.SIGINT if "run" in args else signal.SIGTERM)
    output = log.read_text()
    assert_clean(output, " ".join(args))
    if "run" in args:
        assert code == 0, output
        assert f"FileIntel running on {mask_url(secret_db_url)} (Ctrl-C to stop)" in output
        assert secret_db_url.startswith("sqlite") or f"postgres:{MASK}@127.0.0.1:5432/" in output
    if "worker" not in args:  # dramatiq's own parent exits on SIGTERM with its own code
        assert code == 0, output


def test_reachable_postgres_is_shown_masked(pg_url: str, tmp_path: Path) -> None:
    """``postgres://`` is PostgreSQL; doctor and db current show the URL with *** only."""
    url = make_url(pg_url).set(password=OK_SECRET).render_as_string(hide_password=False)
    written = url.replace("postgresql+psycopg2://", "postgres://")
    shown = mask_url(url)
    assert f"postgres:{MASK}@127.0.0.1:5432/" in shown
    doctor, current = run_all(
        [
            (["doctor"], secret_env(written, REDIS_BROKER)),
            (["db", "current"], secret_env(written, REDIS_BROKER)),
        ],
        tmp_path,
    )
    doctor.check(1)  # the broker and events sink are unreachable
    assert f"OK    database   {shown} reachable" in doctor.out
    current.check(0)
    assert current.out.startswith(f"{shown}: revision ")
