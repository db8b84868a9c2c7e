"""Finding the files to register: paths given by the user, directories walked with ``lstat``.

Only regular files are ever opened. Inside a directory a FIFO, socket or device would
block or read for ever, a symlink loop or an unreadable subdirectory would abort the whole
walk, and a name that is not valid UTF-8 cannot be stored or printed: each is skipped with
a reason and the rest is taken. A path the user named explicitly is different: if it is
missing or not a regular file or directory, nothing is taken (a typo must not leave a
collection half-registered).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fileintel.errors import InputError
from fileintel.pipeline import file_sha256
from fileintel.pipeline.media import detect_media_type

#: The reason recorded for names starting with a dot (``.git``, ``.DS_Store``, editor files).
HIDDEN = "hidden"


@dataclass(frozen=True)
class FileFacts:
    """What registration records about a file before any processing."""

    path: str
    size: int
    sha256: str
    media_type: str


@dataclass(frozen=True)
class Skipped:
    """A directory entry that was not taken, and why."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """The ``{"path", "reason"}`` object of the JSON outputs."""
        return {"path": self.path, "reason": self.reason}


@dataclass
class Scan:
    """The regular files found under the given paths, and what was left out."""

    files: list[FileFacts] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def skipped_summary(self) -> str:
        """``"3 hidden, 1 FIFO"``-style counts by reason ('' when nothing was skipped)."""
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.reason] = counts.get(s.reason, 0) + 1
        return ", ".join(f"{n} {reason}" for reason, n in counts.items())

    def skipped_lines(self) -> list[str]:
        """One line per skipped entry that is not merely hidden."""
        return [f"  skipped: {s.path}: {s.reason}" for s in self.skipped if s.reason != HIDDEN]


def printable(path: str | os.PathLike[str]) -> str:
    """``path`` as text that can be printed and stored: undecodable bytes shown as ``\\xNN``."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _valid_name(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes from a non-UTF-8 name
        return False
    return True


def _walk(directory: Path, skipped: list[Skipped]) -> Iterator[Path]:
    """Regular files under ``directory`` (symlinks to regular files included), sorted."""
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as e:
        skipped.append(Skipped(printable(directory), f"cannot read directory ({e.strerror})"))
        return
    for entry in entries:
        path = Path(entry.path)
        shown = printable(path)
        if entry.name.startswith("."):
            skipped.append(Skipped(shown, HIDDEN))
            continue
        if not _valid_name(entry.path):
            skipped.append(Skipped(shown, "file name is not valid UTF-8; rename it"))
            continue
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                mode = _link_target_mode(path)
        except _Unusable as e:
            skipped.append(Skipped(shown, str(e)))
            continue
        except OSError as e:
            skipped.append(Skipped(shown, f"cannot read ({e.strerror})"))
            continue
        if stat.S_ISDIR(mode):
            if entry.is_symlink():  # never followed: a link to an ancestor loops
                skipped.append(Skipped(shown, "symlink to a directory (not followed)"))
            else:
                yield from _walk(path, skipped)
        elif stat.S_ISREG(mode):
            yield path
        else:
            skipped.append(Skipped(shown, f"not a regular file ({_kind(mode)})"))


class _Unusable(Exception):
    """Raised when a symlink cannot lead to a file (a loop, or nothing)."""


def _link_target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        raise _Unusable("broken symlink") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _Unusable("symlink loop") from None
        raise


def _given(raw: str, skipped: list[Skipped], problems: list[str]) -> Iterator[Path]:
    """The files a path named by the user stands for (itself, or a directory's files)."""
    path = Path(raw).expanduser()
    if not _valid_name(raw):
        problems.append(f"{printable(raw)}: file name is not valid UTF-8; rename it")
        return
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        problems.append(f"{raw}: no such file or directory")
        return
    except OSError as e:
        problems.append(f"{raw}: cannot read ({e.strerror})")
        return
    if stat.S_ISDIR(mode):
        if not os.access(path, os.R_OK | os.X_OK):
            problems.append(f"{raw}: cannot read directory (permission denied)")
            return
        yield from _walk(path, skipped)
    elif stat.S_ISREG(mode):
        yield path
    else:
        problems.append(f"{raw}: not a regular file ({_kind(mode)})")


def scan_paths(paths: Iterable[str]) -> Scan:
    """Expand files and directories (recursively) and read each regular file's facts.

    Every problem with a path the user named is collected first and reported in one
    InputError, so a typo never leaves a collection half-registered; entries found inside
    directories that cannot be taken are skipped and listed in ``Scan.skipped``.
    """
    problems: list[str] = []
    scan = Scan()
    seen: set[Path] = set()
    for raw in paths:
        for f in _given(raw, scan.skipped, problems):
            try:
                resolved = f.resolve()
                if resolved in seen:  # the same file named twice, or through a link
                    continue
                seen.add(resolved)
                facts = FileFacts(
                    path=str(resolved),
                    size=resolved.stat().st_size,
                    sha256=file_sha256(resolved),
                    media_type=detect_media_type(resolved),
                )
            except OSError as e:
                scan.skipped.append(Skipped(printable(f), f"cannot read ({e.strerror or e})"))
                continue
            scan.files.append(facts)
    if problems:
        raise InputError("nothing was added; " + "; ".join(problems))
    if not scan.files:
        detail = scan.skipped_summary()
        raise InputError(
            "nothing was added; the given paths hold no regular files"
            + (f" (skipped: {detail})" if detail else "")
        )
    return scan
