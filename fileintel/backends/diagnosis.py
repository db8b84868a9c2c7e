"""What a database driver's error means, in one line a user can act on.

Drivers say the same few things in many words ("(psycopg2.OperationalError) connection to
server at ... failed: Connection refused ... (Background on this error at: ...)"). Each
known cause is recognised here, at the database boundary, so the CLI prints one line and
``doctor`` names the same cause.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True)
class Diagnosis:
    """A recognised cause: a stable code, and a sentence with the action to take."""

    code: str
    message: str

    @property
    def repeats(self) -> bool:
        """True when trying again cannot help until someone acts (not one document's fault)."""
        return self.code in ("disk_full", "io_error", "damaged", "read_only")


#: (code, pattern on the driver's message, what to say); the first match wins.
_CAUSES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "disk_full",
        re.compile(r"database or disk is full|No space left on device|could not extend file"),
        "the database's disk is full; free space (nothing committed was lost) and run the "
        "command again",
    ),
    (
        "io_error",
        re.compile(r"disk I/O error"),
        "the database could not write to its disk (disk I/O error): is the disk full or "
        "failing? free space or check it (nothing committed was lost), then run the command "
        "again",
    ),
    (
        "damaged",
        re.compile(r"database disk image is malformed|malformed database schema|invalid page"),
        "the database is damaged (a corrupted page); run 'fileintel doctor' and restore it "
        "from a backup",
    ),
    (
        "not_a_database",
        re.compile(r"file is not a database|file is encrypted"),
        "the database file is not a SQLite database; check FILEINTEL_DATABASE_URL",
    ),
    (
        "read_only",
        re.compile(r"attempt to write a readonly database|read-only transaction"),
        "the database is read-only; check its file's permissions (or the server's mode)",
    ),
    (
        "cannot_open",
        re.compile(r"unable to open database file"),
        "cannot open the database file; check that its directory exists and is writable",
    ),
    (
        "refused",
        re.compile(r"Connection refused|could not connect to server"),
        "the database server refused the connection; is PostgreSQL running at that "
        "address? (check FILEINTEL_DATABASE_URL)",
    ),
    (
        "unknown_host",
        re.compile(r"could not translate host name|Name or service not known"),
        "the database host is unknown; check the host name in FILEINTEL_DATABASE_URL",
    ),
    (
        "missing_database",
        re.compile(r'database "([^"]+)" does not exist'),
        "the database {0!r} does not exist on the server; create it (createdb {0}) and "
        "run 'fileintel db upgrade'",
    ),
    (
        "authentication",
        re.compile(r"password authentication failed|no password supplied|role \"[^\"]+\" does"),
        "the database refused the credentials in FILEINTEL_DATABASE_URL",
    ),
)

_BACKGROUND = re.compile(r"\s*\(Background on this error at:[^)]*\)")


def diagnose(error: BaseException) -> Diagnosis | None:
    """The recognised cause of a driver error (or of what it wraps), or None."""
    text = str(error.orig) if isinstance(error, DBAPIError) else str(error)
    for code, pattern, message in _CAUSES:
        found = pattern.search(text)
        if found is not None:
            return Diagnosis(code, message.format(*found.groups()))
    return None


def one_line(error: DBAPIError) -> str:
    """The diagnosis, or the driver's own first line without SQLAlchemy's link."""
    found = diagnose(error)
    if found is not None:
        return found.message
    first = (str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0]
    return "database error: " + _BACKGROUND.sub("", first)


# --- what this process knows: its writes keep failing for a cause that repeats -----------

#: Failures further apart than this are not one streak (the cause was mended in between).
STREAK_GAP_SECONDS = 15.0

_streak: tuple[Diagnosis, float, float] | None = None  # (cause, first, latest)
_streak_lock = threading.Lock()


def note_unusable(found: Diagnosis) -> None:
    """Record a write that failed for a cause that repeats."""
    global _streak
    now = time.monotonic()
    with _streak_lock:
        if _streak is None or _streak[0] != found or now - _streak[2] > STREAK_GAP_SECONDS:
            _streak = (found, now, now)
        else:
            _streak = (found, _streak[1], now)


def unusable_for(seconds: float) -> Diagnosis | None:
    """The cause, when this process's writes have kept failing for it for ``seconds``.

    Not reset by a write that succeeds: on a full disk a small update in place still fits
    while every insert fails, so only a quiet gap ends a streak.
    """
    now = time.monotonic()
    with _streak_lock:
        if _streak is None or now - _streak[2] > STREAK_GAP_SECONDS:
            return None
        return _streak[0] if now - _streak[1] >= seconds else None
