"""Configuration: read once from the environment, validated, immutable.

Every setting has a named default here; CLI flags may override the URLs. A malformed value
raises ``ConfigurationError`` naming the variable, which the CLI prints as one line.

Every URL FileIntel prints goes through ``mask_url``; every text it prints that may quote a
driver's message goes through ``redact``, so no configured password ever reaches output.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fileintel.errors import ConfigurationError

#: Where the embedded SQLite database lives unless FILEINTEL_DATABASE_URL says otherwise.
DEFAULT_DATA_DIR = Path("~/.local/share/fileintel").expanduser()
DEFAULT_EVENTS_STREAM = "fileintel:events"
#: The embedder new collections get: a small semantic model shipped inside its wheel.
DEFAULT_EMBEDDER = "wordllama"

# Named defaults for every interval and horizon (seconds). A dead worker is noticed within
# lease + sweep interval (17 s); a slow link has five heartbeats before its lease ends.
DEFAULT_LEASE_SECONDS = 15.0
DEFAULT_HEARTBEAT_SECONDS = 3.0
DEFAULT_SWEEP_INTERVAL_SECONDS = 2.0
#: Silent message loss only: a broker or database restart is detected and re-sent at once
#: (``sweeper/restarts.py``); a deep queue must not look lost, hence minutes.
DEFAULT_DISPATCH_TIMEOUT_SECONDS = 120.0
DEFAULT_RUN_DEADLINE_SECONDS = 6 * 3600.0
DEFAULT_MAX_DOCUMENT_ATTEMPTS = 3
DEFAULT_RELAY_POLL_SECONDS = 1.0
#: Failed publishes after which the relay parks an outbox row.
DEFAULT_RELAY_MAX_ATTEMPTS = 10
DEFAULT_OUTBOX_RETENTION_SECONDS = 7 * 24 * 3600.0
#: One document's limits (``pipeline.limits``). Chunks and embeddings of a document are
#: committed in one transaction, so they are held in memory together: 20,000 chunks is
#: about 20 MB of text and 60 MB of memory at the default chunk size.
DEFAULT_MAX_FILE_MB = 50.0
DEFAULT_MAX_PDF_PAGES = 2000
DEFAULT_MAX_CHUNKS = 20_000
DEFAULT_DOCUMENT_TIMEOUT_SECONDS = 600.0
#: Log levels FILEINTEL_LOG_LEVEL accepts. At ``info`` a worker logs runs starting and
#: finishing, documents failing and work it dropped; ``debug`` adds a line per document done.
LOG_LEVELS = ("debug", "info", "warning", "error")


#: The variables that hold URLs (and so, possibly, passwords).
URL_VARIABLES = ("FILEINTEL_DATABASE_URL", "FILEINTEL_BROKER_URL", "FILEINTEL_EVENTS_URL")
#: What a secret is replaced with in everything FileIntel prints.
MASK = "***"
#: Query parameters that carry a secret (libpq and redis-py both read ``password=``).
_SECRET_PARAM = re.compile(r"(?i)[?&;](?:password|passwd|pwd|sslpassword|secret|token)=([^&;#]*)")


def _secret_spans(url: str) -> list[tuple[int, int]]:
    """The (start, end) spans of ``url`` that hold secrets, in order, not overlapping.

    The user info runs from ``scheme://`` to the *last* ``@``: a password may hold an
    unescaped ``@``, ``/`` or ``#``, and masking too much is safe where too little is not.
    A well-formed ``user:password`` keeps its user; anything else loses all of it.
    """
    sep = url.find("://")
    start = sep + 3 if sep >= 0 else 0
    at = url.rfind("@")
    spans: list[tuple[int, int]] = []
    if at >= start:
        userinfo = url[start:at]
        try:
            well_formed = urlsplit(url).netloc.rpartition("@")[0] == userinfo
        except ValueError:
            well_formed = False
        user, colon, _ = userinfo.partition(":")
        if not well_formed:
            spans.append((start, at))
        elif colon:  # a user name alone (no colon) is not a secret
            spans.append((start + len(user) + 1, at))
    tail = max(at + 1, start)
    spans += [m.span(1) for m in _SECRET_PARAM.finditer(url, tail) if m.group(1)]
    return spans


def mask_url(url: str) -> str:
    """``url`` with its password (and any secret query parameter) replaced by ``***``.

    The one function for every URL FileIntel prints. It never raises: a URL it cannot make
    sense of comes back as ``***`` whole rather than risk showing a secret.
    """
    try:
        out, pos = [], 0
        for begin, end in _secret_spans(url):
            out += [url[pos:begin], MASK]
            pos = end
        return "".join([*out, url[pos:]])
    except Exception:
        return MASK


def url_secrets(*urls: str | None) -> frozenset[str]:
    """The literal secrets in ``urls`` (as written and percent-decoded), for ``redact``."""
    found: set[str] = set()
    for url in urls:
        if not url:
            continue
        try:
            spans = _secret_spans(url)
        except Exception:  # cannot happen on a str; if it did, hide the whole URL
            spans = [(0, len(url))]
        for begin, end in spans:
            raw = url[begin:end]
            # A whole user info masked: a driver may quote its password part alone.
            found.update((raw, raw.partition(":")[2] if ":" in raw else raw))
        # What the drivers send, when an '@' after the host moved the mask's end.
        with contextlib.suppress(ValueError):
            found.add(urlsplit(url).password or "")
    found.update([unquote(s) for s in found])
    # An unescaped '@' in a password: drivers split there and show the rest as a host name.
    found.update([piece for s in found for piece in s.split("@")])
    return frozenset(s for s in found if s)


def redact(text: str, secrets: Settings | Iterable[str]) -> str:
    """``text`` with each configured secret literal replaced by ``***``; never raises.

    For texts that may quote a driver's message or a traceback, where a password may appear
    outside any URL (a DSN, a decoded value). ``secrets`` is a Settings or ``url_secrets()``.
    A literal is replaced where it stands as a token (no letter or digit glued to either
    side): a password ``x`` or ``pass`` must not turn "expected" or "password" into noise.
    """
    try:
        literals = secrets.secrets if isinstance(secrets, Settings) else secrets
        if not literals:
            return text
        # Longest first: a secret that contains another is replaced whole.
        ordered = sorted(literals, key=len, reverse=True)
        pattern = f"(?<![A-Za-z0-9])(?:{'|'.join(map(re.escape, ordered))})(?![A-Za-z0-9])"
        return re.sub(pattern, MASK, text)
    except Exception:
        return MASK


def default_database_url() -> str:
    """The embedded default: ``$XDG_DATA_HOME/fileintel/fileintel.db`` (~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME")
    data_dir = Path(base) / "fileintel" if base else DEFAULT_DATA_DIR
    return f"sqlite:///{data_dir / 'fileintel.db'}"


def default_index_dir() -> Path:
    """Where derived search indexes live: ``$XDG_CACHE_HOME/fileintel/indexes`` (~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path("~/.cache").expanduser()) / "fileintel" / "indexes"


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
    embedder: str = DEFAULT_EMBEDDER
    #: Derived search indexes of large collections (rebuildable from the database).
    index_dir: Path = field(default_factory=default_index_dir)
    log_format: str = "text"
    log_level: str = "info"
    #: FILEINTEL_WEB_TOKEN: what ``fileintel web`` asks of every request (bearer or basic).
    web_token: str | None = None
    #: One document's limits (``pipeline.limits``): a document over one fails, naming it.
    max_file_mb: float = DEFAULT_MAX_FILE_MB
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES
    max_chunks_per_document: int = DEFAULT_MAX_CHUNKS
    document_timeout_seconds: float = DEFAULT_DOCUMENT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        # One spelling of PostgreSQL everywhere after this point (engines, child processes).
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))

    def __repr__(self) -> str:
        # A settings object may end up in a traceback or a log line: never with a password.
        shown = (
            f"{f.name}={(mask_url(v) if f.name.endswith('_url') and v else v)!r}"
            if not (f.name.endswith("_token") and v)
            else f"{f.name}='***'"
            for f in fields(self)
            for v in [getattr(self, f.name)]
        )
        return f"Settings({', '.join(shown)})"

    @property
    def secrets(self) -> frozenset[str]:
        """The password literals of the three URLs and the web token, for ``redact``."""
        found = url_secrets(self.database_url, self.broker_url, self.events_url)
        return found | {self.web_token} if self.web_token else found

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


#: How PostgreSQL may be written; all of them mean psycopg2, the driver FileIntel ships with.
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg2")
_DATABASE_SCHEMES = (*_POSTGRES_SCHEMES, "sqlite")
_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "stub")
_EVENTS_SCHEMES = ("redis", "rediss")


def normalise_database_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` as ``postgresql+psycopg2://``; others unchanged."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in _POSTGRES_SCHEMES:
        return f"postgresql+psycopg2://{rest}"
    return url


def _check_url(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as e:
        # ``from None``: urlsplit's own message may quote the netloc, password included.
        reason = redact(str(e), url_secrets(url))
        raise ConfigurationError(f"{variable}: malformed URL {shown!r} ({reason})") from None
    if parts.scheme not in schemes:
        hint = ""
        if parts.scheme.startswith("postgresql+"):
            driver = parts.scheme.partition("+")[2]
            hint = f" (driver {driver!r} is not supported: use postgresql://)"
        raise ConfigurationError(
            f"{variable}: unknown scheme {parts.scheme or '(none)'!r} in {shown!r}{hint}; "
            f"expected one of {', '.join(s + '://' for s in schemes)}"
        )
    if parts.scheme != "sqlite" and parts.scheme != "stub" and not parts.hostname:
        raise ConfigurationError(f"{variable}: {shown!r} names no host")
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ConfigurationError(f"{variable}: bad port in {shown!r}") from None


@dataclass(frozen=True)
class EmbedderSpec:
    """A parsed embedder name: its kind and what the kind needs (dimension, model)."""

    kind: str  # "hashing", "wordllama" or "sentence-transformers"
    dimension: int | None = None
    char_trigrams: bool = False
    model: str | None = None

    @property
    def model_name(self) -> str:
        """The name chunks embedded this way are stored with (``chunks.embedding_model``),
        known without loading the model: the one spelling runs compare their options by."""
        if self.kind == "wordllama":
            return WORDLLAMA_MODEL
        if self.kind == "sentence-transformers":
            return f"{SENTENCE_TRANSFORMERS_PREFIX}{self.model}"
        name = "hashing-ngrams-c3-v1" if self.char_trigrams else "hashing-ngrams-v1"
        dimension = self.dimension or 384
        return name if dimension == 384 else f"{name}:{dimension}"


_HASHING_SPEC = re.compile(r"^hashing(?:-ngrams(?P<c3>-c3)?-v1)?(?::(?P<dim>\d+))?$")
#: The stored name of the default model (wordllama's bundled ``l2_supercat``, 256 dimensions).
WORDLLAMA_MODEL = "wordllama-l2_supercat-256"
_WORDLLAMA_SPEC = re.compile(rf"^wordllama(?:{WORDLLAMA_MODEL.removeprefix('wordllama')})?$")
SENTENCE_TRANSFORMERS_PREFIX = "sentence-transformers:"


def parse_embedder(spec: str) -> EmbedderSpec:
    """Parse ``FILEINTEL_EMBEDDER`` (or a stored model name); ValueError saying what is valid.

    A stored chunk's ``embedding_model`` parses too, so a collection is searched and
    re-processed with the model it was embedded with.
    """
    spec = spec.strip()
    if _WORDLLAMA_SPEC.match(spec):
        return EmbedderSpec("wordllama", dimension=256)
    if spec.startswith(SENTENCE_TRANSFORMERS_PREFIX):
        model = spec[len(SENTENCE_TRANSFORMERS_PREFIX) :].strip()
        if not model:
            raise ValueError(f"{spec!r} needs a model name after '{SENTENCE_TRANSFORMERS_PREFIX}'")
        return EmbedderSpec("sentence-transformers", model=model)
    m = _HASHING_SPEC.match(spec)
    if m is None:
        raise ValueError(
            f"unknown embedder {spec!r}; use 'wordllama' (the default), 'hashing', "
            f"'hashing:<dimension>' or '{SENTENCE_TRANSFORMERS_PREFIX}<model>'"
        )
    dimension = int(m["dim"]) if m["dim"] else 384
    if dimension <= 0:
        raise ValueError(f"embedder {spec!r}: dimension must be positive")
    return EmbedderSpec("hashing", dimension=dimension, char_trigrams=bool(m["c3"]))


def _validate(s: Settings) -> None:
    _check_url("FILEINTEL_DATABASE_URL", s.database_url, _DATABASE_SCHEMES)
    if s.database_url.startswith("sqlite") and not s.database_url.startswith("sqlite:///"):
        raise ConfigurationError(
            f"FILEINTEL_DATABASE_URL: {mask_url(s.database_url)!r} must look like "
            "sqlite:///path/to/file.db"
        )
    _check_url("FILEINTEL_BROKER_URL", s.broker_url, _BROKER_SCHEMES)
    if s.events_url is not None:
        _check_url("FILEINTEL_EVENTS_URL", s.events_url, _EVENTS_SCHEMES)
    try:
        parse_embedder(s.embedder)
    except ValueError as e:
        raise ConfigurationError(f"FILEINTEL_EMBEDDER: {e}") from None
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
        embedder=(env.get("FILEINTEL_EMBEDDER") or DEFAULT_EMBEDDER).strip(),
        index_dir=Path(env["FILEINTEL_INDEX_DIR"]).expanduser()
        if env.get("FILEINTEL_INDEX_DIR")
        else default_index_dir(),
        log_format=env.get("FILEINTEL_LOG_FORMAT") or "text",
        log_level=(env.get("FILEINTEL_LOG_LEVEL") or "info").lower(),
        web_token=env.get("FILEINTEL_WEB_TOKEN") or None,
        max_file_mb=_number(env, "FILEINTEL_MAX_FILE_MB", DEFAULT_MAX_FILE_MB),
        max_pdf_pages=int(_number(env, "FILEINTEL_MAX_PDF_PAGES", DEFAULT_MAX_PDF_PAGES, int)),
        max_chunks_per_document=int(
            _number(env, "FILEINTEL_MAX_CHUNKS_PER_DOCUMENT", DEFAULT_MAX_CHUNKS, int)
        ),
        document_timeout_seconds=_number(
            env, "FILEINTEL_DOCUMENT_TIMEOUT_SECONDS", DEFAULT_DOCUMENT_TIMEOUT_SECONDS
        ),
    )
    _validate(settings)
    return settings


def check_embedder(name: str) -> None:
    """Raise ConfigurationError, naming FILEINTEL_EMBEDDER, unless ``name`` is well formed
    and its package is installed. Loads no model, so a process calls it at start-up instead
    of failing every document."""
    try:
        spec = parse_embedder(name)
    except ValueError as e:
        raise ConfigurationError(f"FILEINTEL_EMBEDDER: {e}") from None
    #: The importable module, and the distribution to install, of each kind that needs one.
    package = {
        "wordllama": ("wordllama", "wordllama"),
        "sentence-transformers": ("sentence_transformers", "'fileintel[sentence-transformers]'"),
    }
    if spec.kind in package:
        module, install = package[spec.kind]
        if importlib.util.find_spec(module) is None:
            raise ConfigurationError(
                f"FILEINTEL_EMBEDDER: {name!r} needs the {spec.kind} package; install it with: "
                f"pip install {install}"
            )
