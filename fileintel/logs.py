"""Logging: one line per event, text by default, JSON with FILEINTEL_LOG_FORMAT=json.

FILEINTEL_LOG_LEVEL (``info`` by default) sets how much: ``debug`` adds a line per document.
"""

from __future__ import annotations

import json
import logging
import sys
import time

_MARK = "_fileintel_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` ids."""

    FIELDS = ("collection_id", "run_id", "document_id")

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data)


def configure_logging(
    log_format: str = "text", level: int | str = logging.INFO, *, replace_all: bool = False
) -> None:
    """Send FileIntel's logs to stderr in the chosen format (idempotent).

    Replaces only the handler an earlier call installed: handlers that others put on the
    root logger (a test runner's capture, an embedding application's) stay. With
    ``replace_all`` (a Dramatiq worker process, whose CLI installed its own handler on the
    same stderr) every root handler goes, so each record is written once, in our format.
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _MARK, True)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
        )
    kept = [] if replace_all else [h for h in root.handlers if not getattr(h, _MARK, False)]
    root.handlers[:] = [*kept, handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
