"""Configuration: read once from the environment, validated, immutable.

Every setting has a named default here; CLI flags may override the URLs. A malformed value
raises ``ConfigurationError`` naming the variable, which the CLI prints as one line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from fileintel.errors import ConfigurationError

#: Where the embedded SQLite database lives unless FILEINTEL_DATABASE_URL says otherwise.
DEFAULT_DATA_DIR = Path("~/.local/share/fileintel").expanduser()
DEFAULT_EVENTS_STREAM = "fileintel:events"

# Named defaults for every interval and horizon (seconds).
DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_HEARTBEAT_SECONDS = 15.0
DEFAULT_SWEEP_INTERVAL_SECONDS = 10.0
DEFAULT_DISPATCH_TIMEOUT_SECONDS = 120.0
DEFAULT_RUN_DEADLINE_SECONDS = 6 * 3600.0
DEFAULT_MAX_DOCUMENT_ATTEMPTS = 3
DEFAULT_RELAY_POLL_SECONDS = 1.0
#: Failed publishes after which the relay parks an outbox row.
DEFAULT_RELAY_MAX_ATTEMPTS = 10
DEFAULT_OUTBOX_RETENTION_SECONDS = 7 * 24 * 3600.0
#: Log levels FILEINTEL_LOG_LEVEL accepts. At ``info`` a worker logs runs starting and
#: finishing, documents failing and work it dropped; ``debug`` adds a line per document done.
LOG_LEVELS = ("debug", "info", "warning", "error")


def default_database_url() -> str:
    """The embedded default: ``$XDG_DATA_HOME/fileintel/fileintel.db`` (~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME")
    data_dir = Path(base) / "fileintel" if base else DEFAULT_DATA_DIR
    return f"sqlite:///{data_dir / 'fileintel.db'}"


@dataclass(frozen=True)
class Settings:
    """Everything a FileIntel process needs to know about its surroundings."""

    database_url: str
    broker_url: str = "stub://"
    events_url: str | None = None
    events_stream: str = DEFAULT_EVENTS_STREAM
    events_maxlen: int = 1_000_000
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS
    dispatch_timeout_seconds: float = DEFAULT_DISPATCH_TIMEOUT_SECONDS
    run_deadline_seconds: float = DEFAULT_RUN_DEADLINE_SECONDS
    max_document_attempts: int = DEFAULT_MAX_DOCUMENT_ATTEMPTS
    relay_poll_seconds: float = DEFAULT_RELAY_POLL_SECONDS
    relay_max_attempts: int = DEFAULT_RELAY_MAX_ATTEMPTS
    outbox_retention_seconds: float = DEFAULT_OUTBOX_RETENTION_SECONDS
    embedder: str | None = None
    log_format: str = "text"
    log_level: str = "info"

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def is_embedded_broker(self) -> bool:
        """True when messages stay inside this process (``stub://``)."""
        return self.broker_url.startswith("stub")

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced (None values are ignored), re-validated."""
        clean = {k: v for k, v in changes.items() if v is not None}
        updated = replace(self, **clean)  # type: ignore[arg-type]
        _validate(updated)
        return updated


_DATABASE_SCHEMES = ("postgresql", "postgresql+psycopg2", "sqlite")
_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "stub")
_EVENTS_SCHEMES = ("redis", "rediss")


def _check_url(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ConfigurationError(f"{variable}: malformed URL {url!r} ({e})") from e
    if parts.scheme not in schemes:
        raise ConfigurationError(
            f"{variable}: unknown scheme {parts.scheme or '(none)'!r} in {url!r}; "
            f"expected one of {', '.join(s + '://' for s in schemes)}"
        )
    if parts.scheme != "sqlite" and parts.scheme != "stub" and not parts.hostname:
        raise ConfigurationError(f"{variable}: {url!r} names no host")
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as e:
        raise ConfigurationError(f"{variable}: bad port in {url!r}") from e


def _validate(s: Settings) -> None:
    _check_url("FILEINTEL_DATABASE_URL", s.database_url, _DATABASE_SCHEMES)
    if s.database_url.startswith("sqlite") and not s.database_url.startswith("sqlite:///"):
        raise ConfigurationError(
            f"FILEINTEL_DATABASE_URL: {s.database_url!r} must look like sqlite:///path/to/file.db"
        )
    _check_url("FILEINTEL_BROKER_URL", s.broker_url, _BROKER_SCHEMES)
    if s.events_url is not None:
        _check_url("FILEINTEL_EVENTS_URL", s.events_url, _EVENTS_SCHEMES)
    if s.log_format not in ("text", "json"):
        raise ConfigurationError(f"FILEINTEL_LOG_FORMAT: {s.log_format!r} is not 'text' or 'json'")
    if s.log_level not in LOG_LEVELS:
        raise ConfigurationError(
            f"FILEINTEL_LOG_LEVEL: {s.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    if s.heartbeat_seconds >= s.lease_seconds:
        raise ConfigurationError(
            "FILEINTEL_HEARTBEAT_SECONDS must be shorter than FILEINTEL_LEASE_SECONDS "
            f"({s.heartbeat_seconds} >= {s.lease_seconds})"
        )


def _number(env: Mapping[str, str], name: str, default: float, cast: type = float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError as e:
        raise ConfigurationError(f"{name}: {raw!r} is not a number") from e
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name}: must be a finite number greater than 0, got {raw!r}")
    return float(value)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the FILEINTEL_* variables; ConfigurationError on the first bad one."""
    env = os.environ if env is None else env
    settings = Settings(
        database_url=env.get("FILEINTEL_DATABASE_URL") or default_database_url(),
        broker_url=env.get("FILEINTEL_BROKER_URL") or "stub://",
        events_url=env.get("FILEINTEL_EVENTS_URL") or None,
        events_stream=env.get("FILEINTEL_EVENTS_STREAM") or DEFAULT_EVENTS_STREAM,
        events_maxlen=int(_number(env, "FILEINTEL_EVENTS_MAXLEN", 1_000_000, int)),
        lease_seconds=_number(env, "FILEINTEL_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
        heartbeat_seconds=_number(env, "FILEINTEL_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS),
        sweep_interval_seconds=_number(
            env, "FILEINTEL_SWEEP_INTERVAL_SECONDS", DEFAULT_SWEEP_INTERVAL_SECONDS
        ),
        dispatch_timeout_seconds=_number(
            env, "FILEINTEL_DISPATCH_TIMEOUT_SECONDS", DEFAULT_DISPATCH_TIMEOUT_SECONDS
        ),
        run_deadline_seconds=_number(
            env, "FILEINTEL_RUN_DEADLINE_SECONDS", DEFAULT_RUN_DEADLINE_SECONDS
        ),
        max_document_attempts=int(
            _number(env, "FILEINTEL_MAX_DOCUMENT_ATTEMPTS", DEFAULT_MAX_DOCUMENT_ATTEMPTS, int)
        ),
        relay_poll_seconds=_number(env, "FILEINTEL_RELAY_POLL_SECONDS", DEFAULT_RELAY_POLL_SECONDS),
        relay_max_attempts=int(
            _number(env, "FILEINTEL_RELAY_MAX_ATTEMPTS", DEFAULT_RELAY_MAX_ATTEMPTS, int)
        ),
        outbox_retention_seconds=_number(
            env, "FILEINTEL_OUTBOX_RETENTION_SECONDS", DEFAULT_OUTBOX_RETENTION_SECONDS
        ),
        embedder=env.get("FILEINTEL_EMBEDDER") or None,
        log_format=env.get("FILEINTEL_LOG_FORMAT") or "text",
        log_level=(env.get("FILEINTEL_LOG_LEVEL") or "info").lower(),
    )
    _validate(settings)
    return settings
