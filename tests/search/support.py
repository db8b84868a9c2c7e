"""Collections processed through the real finish, in this thread, for the search tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from fileintel.db import read_tx, write_tx
from fileintel.search.query import SearchRequest, SearchResult, search
from fileintel.store.collections import create_collection
from fileintel.store.documents import register_scan, scan_paths
from fileintel.store.runs import request_processing
from fileintel.workers.actors import DocumentWorker
from tests.corpus import deliver_outbox


def folder_of(folder: Path, files: dict[str, str]) -> Path:
    """``folder`` with these files (name: text) written in it."""
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body)
    return folder


def processed(
    engine: Engine, worker: DocumentWorker, folder: Path, name: str, embedder: str
) -> str:
    """A collection of ``folder``'s files processed with ``embedder``; its id."""
    with write_tx(engine) as conn:
        collection_id = create_collection(conn, name, actor="test")
        register_scan(conn, collection_id, scan_paths([str(folder)]))
        request_processing(conn, collection_id, options={"embedder": embedder}, actor="test")
    deliver_outbox(engine, worker)
    return collection_id


def ask(
    engine: Engine, collection_id: str, query: str, index_dir: Path, **options: object
) -> SearchResult:
    """``search`` in a read transaction of its own."""
    with read_tx(engine) as conn:
        return search(conn, collection_id, SearchRequest(query, **options), index_dir)  # type: ignore[arg-type]
