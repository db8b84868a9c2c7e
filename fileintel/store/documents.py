"""Registering files as documents of a collection, and listing them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from fileintel.errors import InputError
from fileintel.models.states import DocumentState
from fileintel.models.tables import collections_t, documents_t
from fileintel.pipeline import file_sha256
from fileintel.pipeline.media import detect_media_type
from fileintel.store.collections import parse_choice


@dataclass(frozen=True)
class FileFacts:
    """What registration records about a file before any processing."""

    path: str
    size: int
    sha256: str
    media_type: str


@dataclass
class Registration:
    """The outcome of ``add``: what was added, updated, or reported and left alone."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, existing path)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": [{"path": p, "same_content_as": e} for p, e in self.duplicates],
        }


def _walk(path: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def scan_paths(paths: Iterable[str]) -> list[FileFacts]:
    """Expand files and directories (recursively) and read each file's facts.

    Every missing or unreadable path is collected first and reported in one InputError,
    so a typo never leaves a collection half-registered.
    """
    problems: list[str] = []
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            problems.append(f"{raw}: no such file or directory")
        elif path.is_dir():
            files.extend(_walk(path))
        elif not path.is_file():
            problems.append(f"{raw}: not a regular file")
        else:
            files.append(path)
    facts: list[FileFacts] = []
    seen: set[Path] = set()
    for f in files:
        try:
            resolved = f.resolve()
            if resolved in seen:  # the same file named twice, or through a link
                continue
            seen.add(resolved)
            facts.append(
                FileFacts(
                    path=str(resolved),
                    size=resolved.stat().st_size,
                    sha256=file_sha256(resolved),
                    media_type=detect_media_type(resolved),
                )
            )
        except OSError as e:
            problems.append(f"{f}: cannot read ({e.strerror or e})")
    if problems:
        raise InputError("nothing was added; " + "; ".join(problems))
    if not facts:
        raise InputError("nothing was added; the given directories hold no files")
    return facts


def _record_new_content(conn: Connection, collection_id: str, known: Any, f: FileFacts) -> None:
    """An edited file: new facts; a finished document is pending again (out of date).

    It is detached from its run, so no late message of that run can claim it; the next
    request processes it.
    """
    d = documents_t.c
    values: dict[str, Any] = {"size": f.size, "sha256": f.sha256, "media_type": f.media_type}
    finished = DocumentState(known.state).is_finished
    if finished:
        values.update(state=DocumentState.PENDING.value, run_id=None, attempt=0, error=None)
    conn.execute(update(documents_t).where(d.id == known.id).values(values))
    if finished:
        c = collections_t.c
        old = f"documents_{known.state}"
        conn.execute(
            update(collections_t)
            .where(c.id == collection_id)
            .values({old: c[old] - 1, "documents_pending": c.documents_pending + 1})
        )


def register_documents(
    conn: Connection, collection_id: str, facts: list[FileFacts]
) -> Registration:
    """Add new files as pending documents; report unchanged ones and same-content duplicates."""
    d = documents_t.c
    existing = {
        row.path: row
        for row in conn.execute(
            select(d.id, d.path, d.sha256, d.state).where(d.collection_id == collection_id)
        )
    }
    by_hash = {row.sha256: row.path for row in existing.values()}
    result = Registration()
    new_rows: list[dict[str, Any]] = []
    for f in facts:
        known = existing.get(f.path)
        if known is not None:
            if known.sha256 == f.sha256:
                result.unchanged.append(f.path)
            else:
                _record_new_content(conn, collection_id, known, f)
                result.updated.append(f.path)
            by_hash[f.sha256] = f.path
            continue
        if f.sha256 in by_hash:
            result.duplicates.append((f.path, by_hash[f.sha256]))
            continue
        by_hash[f.sha256] = f.path
        new_rows.append(
            {
                "collection_id": collection_id,
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                "media_type": f.media_type,
                "state": DocumentState.PENDING.value,
                "attempt": 0,
                "lost_leases": 0,
                "chunk_count": 0,
                "embedded_count": 0,
            }
        )
        result.added.append(f.path)
    if new_rows:
        conn.execute(insert(documents_t), new_rows)
        c = collections_t.c
        conn.execute(
            update(collections_t)
            .where(c.id == collection_id)
            .values(
                documents_total=c.documents_total + len(new_rows),
                documents_pending=c.documents_pending + len(new_rows),
            )
        )
    return result


#: The keys of ``collections documents --json`` (and of the API's documents).
DOCUMENT_JSON_KEYS = ("id", "path", "state", "error", "chunks", "attempts")


def list_documents(
    conn: Connection,
    collection_id: str,
    state: DocumentState | None = None,
    limit: int | None = None,
    *,
    after_id: int | None = None,
) -> list[dict[str, Any]]:
    """Documents of a collection in id order (above ``after_id``: keyset paging): id, path,
    state, error, chunks, attempts, media type and size."""
    d = documents_t.c
    query = (
        select(d.id, d.path, d.state, d.error, d.chunk_count, d.attempt, d.media_type, d.size)
        .where(d.collection_id == collection_id)
        .order_by(d.id)
    )
    if state is not None:
        query = query.where(d.state == state.value)
    if after_id is not None:
        query = query.where(d.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "id": row.id,
            "path": row.path,
            "state": row.state,
            "error": row.error,
            "chunks": row.chunk_count,
            "attempts": row.attempt,
            "media_type": row.media_type,
            "size": row.size,
        }
        for row in conn.execute(query)
    ]


def documents_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``list_documents`` rows as ``collections documents --json`` prints them."""
    return [{k: r[k] for k in DOCUMENT_JSON_KEYS} for r in rows]


def parse_state_filter(value: str | None) -> DocumentState | None:
    """Turn a ``--state`` option into a document state, or raise InputError."""
    return parse_choice(value, DocumentState, "document state")
