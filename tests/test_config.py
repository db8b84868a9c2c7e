"""Configuration: bad values fail at start-up with one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from fileintel.cli import main
from fileintel.config import DEFAULT_LEASE_SECONDS, Settings, load_settings
from fileintel.errors import ConfigurationError

GOOD_PG = "postgresql+psycopg2://user:secret@db.example:5432/fileintel"


def test_defaults_are_the_embedded_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings({})
    assert settings.database_url == f"sqlite:///{tmp_path}/fileintel/fileintel.db"
    assert settings.is_sqlite and settings.is_embedded_broker
    assert settings.events_url is None
    assert settings.lease_seconds == DEFAULT_LEASE_SECONDS
    assert settings.log_level == "info"


def test_valid_values_are_read() -> None:
    settings = load_settings(
        {
            "FILEINTEL_DATABASE_URL": GOOD_PG,
            "FILEINTEL_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/",
            "FILEINTEL_EVENTS_URL": "redis://127.0.0.1:6379/0",
            "FILEINTEL_LEASE_SECONDS": "30",
            "FILEINTEL_HEARTBEAT_SECONDS": "5.5",
            "FILEINTEL_MAX_DOCUMENT_ATTEMPTS": "5",
            "FILEINTEL_RELAY_MAX_ATTEMPTS": "4",
            "FILEINTEL_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.log_level == "debug"
    assert settings.database_url == GOOD_PG and not settings.is_sqlite
    assert settings.broker_url.startswith("amqp://") and not settings.is_embedded_broker
    assert (settings.lease_seconds, settings.heartbeat_seconds) == (30.0, 5.5)
    assert settings.max_document_attempts == 5
    assert settings.relay_max_attempts == 4


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("FILEINTEL_DATABASE_URL", "postgresql://[::1/fileintel", "malformed"),
        ("FILEINTEL_DATABASE_URL", "mysql://root@localhost/fileintel", "unknown scheme"),
        ("FILEINTEL_DATABASE_URL", "postgresql+asyncpg://localhost/fileintel", "asyncpg"),
        ("FILEINTEL_DATABASE_URL", "ftp://localhost/fileintel", "unknown scheme"),
        ("FILEINTEL_DATABASE_URL", "/var/lib/fileintel.db", "unknown scheme"),
        ("FILEINTEL_DATABASE_URL", "postgresql+psycopg2:///fileintel", "no host"),
        ("FILEINTEL_DATABASE_URL", "postgresql://localhost:54x2/fileintel", "port"),
        ("FILEINTEL_DATABASE_URL", "sqlite://relative.db", "sqlite:///"),
        ("FILEINTEL_BROKER_URL", "kafka://localhost:9092", "unknown scheme"),
        ("FILEINTEL_BROKER_URL", "redis://localhost:99999999", "port"),
        ("FILEINTEL_EVENTS_URL", "amqp://localhost", "unknown scheme"),
        ("FILEINTEL_LEASE_SECONDS", "sixty", "not a number"),
        ("FILEINTEL_LEASE_SECONDS", "-5", "greater than 0"),
        ("FILEINTEL_SWEEP_INTERVAL_SECONDS", "0", "greater than 0"),
        ("FILEINTEL_MAX_DOCUMENT_ATTEMPTS", "three", "not a number"),
        ("FILEINTEL_RELAY_POLL_SECONDS", "1s", "not a number"),
        ("FILEINTEL_RELAY_MAX_ATTEMPTS", "0", "greater than 0"),
        ("FILEINTEL_LOG_FORMAT", "xml", "xml"),
        ("FILEINTEL_LOG_LEVEL", "verbose", "one of debug, info, warning, error"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: value})
    message = str(caught.value)
    assert message.startswith(variable), message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "written",
    [
        "postgres://u:pw@db.example:5432/fileintel",
        "postgresql://u:pw@db.example:5432/fileintel",
        "POSTGRES://u:pw@db.example:5432/fileintel",
        "postgresql+psycopg2://u:pw@db.example:5432/fileintel",
    ],
)
def test_every_spelling_of_postgresql_means_psycopg2(written: str) -> None:
    expected = "postgresql+psycopg2://u:pw@db.example:5432/fileintel"
    assert load_settings({"FILEINTEL_DATABASE_URL": written}).database_url == expected
    assert load_settings({}).with_overrides(database_url=written).database_url == expected
    assert Settings(database_url=written).database_url == expected


MALFORMED_WITH_PASSWORD = [
    "postgres://u:PASSWORD@[::1/x",
    "mysql://u:PASSWORD@localhost/db",
    "postgresql+asyncpg://u:PASSWORD@localhost/db",
    "sqlite://u:PASSWORD@/x.db",
    "ftp://u:PASSWORD@x",
    "postgres://u:PASSWORD\uff03@localhost/db",
    "redis://:PASSWORD@localhost:port/0",
    "redis:///u:PASSWORD@",
]


@pytest.mark.parametrize(
    "variable", ["FILEINTEL_DATABASE_URL", "FILEINTEL_BROKER_URL", "FILEINTEL_EVENTS_URL"]
)
@pytest.mark.parametrize("url", MALFORMED_WITH_PASSWORD)
def test_a_refused_url_is_shown_masked(variable: str, url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: url})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and "\n" not in message, message
    assert "PASSWORD" not in message and "***" in message, message
    # Nothing chained that a traceback (--debug, a worker's import error) would print.
    assert caught.value.__cause__ is None or "PASSWORD" not in str(caught.value.__cause__)


def test_heartbeat_must_be_shorter_than_lease() -> None:
    with pytest.raises(ConfigurationError, match="FILEINTEL_HEARTBEAT_SECONDS"):
        load_settings({"FILEINTEL_LEASE_SECONDS": "10", "FILEINTEL_HEARTBEAT_SECONDS": "10"})


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_refused(value: str) -> None:
    """A NaN lease makes every lease comparison false; it must not get past start-up."""
    with pytest.raises(ConfigurationError, match="FILEINTEL_LEASE_SECONDS"):
        load_settings({"FILEINTEL_LEASE_SECONDS": value})


def test_overrides_are_validated_too() -> None:
    settings = load_settings({})
    with pytest.raises(ConfigurationError, match="FILEINTEL_DATABASE_URL"):
        settings.with_overrides(database_url="oracle://db/x")
    assert settings.with_overrides(database_url=None) == settings
    assert isinstance(settings.with_overrides(database_url=GOOD_PG), Settings)


@pytest.mark.parametrize(
    ("env", "argv", "variable"),
    [
        ({"FILEINTEL_LEASE_SECONDS": "soon"}, ["collections", "list"], "FILEINTEL_LEASE_SECONDS"),
        ({"FILEINTEL_DATABASE_URL": "mysql://x/y"}, ["db", "current"], "FILEINTEL_DATABASE_URL"),
        ({"FILEINTEL_BROKER_URL": "nats://x"}, ["collections", "list"], "FILEINTEL_BROKER_URL"),
        ({}, ["--database-url", "mongodb://x/y", "collections", "list"], "FILEINTEL_DATABASE_URL"),
        ({}, ["--events-url", "http://x", "collections", "list"], "FILEINTEL_EVENTS_URL"),
    ],
)
def test_cli_reports_bad_configuration_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    env: dict[str, str],
    argv: list[str],
    variable: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(argv)
    out, err = capfd.readouterr()
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert variable in lines[0]
    assert "Traceback" not in err


def test_logging_keeps_handlers_it_did_not_install() -> None:
    import logging

    from fileintel.logs import configure_logging

    root = logging.getLogger()
    foreign = logging.NullHandler()
    saved = root.handlers[:]
    root.addHandler(foreign)
    try:
        configure_logging("text")
        configure_logging("json")
        ours = [h for h in root.handlers if h is not foreign and h not in saved]
        assert foreign in root.handlers
        assert len(ours) == 1, "a second call replaces the first call's handler"
    finally:
        root.handlers[:] = saved


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_urls_without_a_driver_connect(
    pg_url: str, scheme: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Not "No module named 'psycopg'": both spellings reach the database through psycopg2."""
    written = pg_url.replace("postgresql+psycopg2://", f"{scheme}://")
    assert written.startswith(f"{scheme}://")
    assert main(["--database-url", written, "db", "current"]) == 0
    out, err = capfd.readouterr()
    assert out.startswith("postgresql+psycopg2://") and "up to date" in out, (out, err)
