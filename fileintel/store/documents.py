"""Registering files as documents of a collection, and listing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from fileintel.models.states import DocumentState
from fileintel.models.tables import collections_t, documents_t
from fileintel.pipeline.walk import HIDDEN, FileFacts, Scan, Skipped, scan_paths
from fileintel.store.collections import parse_choice

__all__ = [
    "FileFacts",
    "Registration",
    "Scan",
    "list_documents",
    "register_documents",
    "register_scan",
    "scan_paths",
]


@dataclass
class Registration:
    """The outcome of ``add``: what was added, updated, or reported and left alone."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, existing path)
    skipped: list[Skipped] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": [{"path": p, "same_content_as": e} for p, e in self.duplicates],
            "skipped": [s.as_dict() for s in self.skipped],
        }

    def summary(self, name: str) -> str:
        """The one-line account ``add`` and ``ingest`` print (one wording for both)."""
        line = (
            f"{name}: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.duplicates)} duplicates"
        )
        if self.skipped:
            line += f", {len(self.skipped)} skipped"
        return line

    def detail_lines(self) -> list[str]:
        """A line per duplicate and per skipped entry (hidden ones counted, not listed)."""
        lines = [f"  not added: {p} has the same content as {e}" for p, e in self.duplicates]
        lines += Scan(skipped=self.skipped).skipped_lines()
        hidden = sum(1 for s in self.skipped if s.reason == HIDDEN)
        if hidden:
            lines.append(f"  skipped {hidden} hidden entries (names starting with '.')")
        return lines


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


def register_scan(conn: Connection, collection_id: str, scan: Scan) -> Registration:
    """Register the files a scan found; the result also lists what the scan skipped."""
    result = register_documents(conn, collection_id, scan.files)
    result.skipped = list(scan.skipped)
    return result


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
