"""Logging: one line per event, text by default, JSON with FILEINTEL_LOG_FORMAT=json.

FILEINTEL_LOG_LEVEL (``info`` by default) sets how much: ``debug`` adds a line per document.
Every line, tracebacks included, has the configured passwords replaced by ``***``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Collection

from fileintel.config import redact
from fileintel.errors import DatabaseUnusable

_MARK = "_fileintel_handler"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


class TextFormatter(logging.Formatter):
    """One line per record (plus a traceback), with the given secrets masked."""

    def __init__(self, secrets: Collection[str] = frozenset(), fmt: str = TEXT_FORMAT):
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` ids."""

    FIELDS = ("collection_id", "run_id", "document_id")

    def __init__(self, secrets: Collection[str] = frozenset()):
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            # Masked before encoding: JSON escaping could split a secret's literal.
            "message": redact(record.getMessage(), self.secrets),
            "pid": record.process,
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["error"] = redact(self.formatException(record.exc_info), self.secrets)
        return json.dumps(data)


def configure_logging(
    log_format: str = "text",
    level: int | str = logging.INFO,
    *,
    replace_all: bool = False,
    secrets: Collection[str] = frozenset(),
) -> None:
    """Send FileIntel's logs to stderr in the chosen format (idempotent).

    ``secrets`` (``Settings.secrets``) are masked in every line, whichever logger wrote it.

    Replaces only the handler an earlier call installed: handlers that others put on the
    root logger (a test runner's capture, an embedding application's) stay. With
    ``replace_all`` (a Dramatiq worker process, whose CLI installed its own handler on the
    same stderr) every root handler goes, so each record is written once, in our format.
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _MARK, True)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(TextFormatter(secrets))
    handler.addFilter(OncePerCause())
    kept = [] if replace_all else [h for h in root.handlers if not getattr(h, _MARK, False)]
    root.handlers[:] = [*kept, handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    executors = logging.getLogger("apscheduler.executors.default")  # its job lines
    if not any(isinstance(f, _DemoteToDebug) for f in executors.filters):
        executors.addFilter(_DemoteToDebug())


class _DemoteToDebug(logging.Filter):
    """APScheduler's "Running job …" / "… executed successfully", twice every sweep
    interval, are debug lines: demoted, and dropped unless the root logger shows debug."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(record.levelno)


class _RedactingStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time, as Python's last-resort handler."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def mask_last_resort(secrets: Collection[str]) -> None:
    """Mask ``secrets`` in the warnings of a process that never called ``configure_logging``.

    Short commands (``ingest`` in the embedded mode) leave logging unconfigured, so Python's
    last-resort handler prints their warnings: replaced by one that masks, same format.
    """
    handler = _RedactingStderr(logging.WARNING)
    handler.setFormatter(TextFormatter(secrets, "%(message)s"))
    handler.addFilter(OncePerCause())
    logging.lastResort = handler


#: While the database is unusable, a cause is logged at most once per this many seconds.
UNUSABLE_LOG_INTERVAL_SECONDS = 30.0


class OncePerCause(logging.Filter):
    """While the database refuses writes for a cause that repeats (disk full, damaged),
    every thread of every loop fails the same way, many times a second: one line per cause
    per interval, without the traceback (the cause is the whole story)."""

    def __init__(self, interval: float = UNUSABLE_LOG_INTERVAL_SECONDS) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        cause = _unusable_cause(record)
        if cause is None:
            return True
        record.exc_info, record.exc_text = None, None
        now = time.monotonic()
        if now - self._last.get(cause, -self.interval) < self.interval:
            return False
        self._last[cause] = now
        return True


def _unusable_cause(record: logging.LogRecord) -> str | None:
    args = record.args if isinstance(record.args, tuple) else ()
    candidates: list[BaseException] = [a for a in args if isinstance(a, BaseException)]
    if record.exc_info and record.exc_info[1] is not None:
        candidates.append(record.exc_info[1])
    for error in candidates:
        seen: BaseException | None = error
        while seen is not None:
            if isinstance(seen, DatabaseUnusable):
                return str(seen)
            seen = seen.__cause__ or seen.__context__
    return None
