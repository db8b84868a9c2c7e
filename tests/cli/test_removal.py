"""``collections remove``, ``collections delete`` and ``ingest --sync``'s removal, on both
backends: chunks leave with their documents, the change is in history and the outbox, and a
collection with an open run is refused in one line with nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from fileintel.db import read_tx, write_tx
from fileintel.errors import InputError
from fileintel.models.events import COLLECTION_DELETED, STATUS_CHANGED
from fileintel.models.tables import (
    chunks_t,
    collections_t,
    documents_t,
    outbox_t,
    runs_t,
    status_events_t,
)
from fileintel.store.removal import remove_missing
from fileintel.workers.actors import DocumentWorker
from tests.corpus import deliver_outbox
from tests.helpers import invariant_h_and_o


def _tree(root: Path) -> Path:
    (root / "keep").mkdir(parents=True)
    (root / "drop").mkdir()
    (root / "keep" / "one.txt").write_text("the first file speaks of rivers and boats")
    (root / "keep" / "two.md").write_text("# Two\n\nmountains, snow and long winters")
    (root / "drop" / "three.txt").write_text("deserts, sand and a very dry wind")
    (root / "drop" / "four.txt").write_text("forests of oak, beech and old pine trees")
    return root


def _processed(cli: Any, engine: Engine, worker: DocumentWorker, root: Path) -> str:
    """A collection 'c' holding ``root``'s four files, processed to completed."""
    cid: str = cli("collections", "create", "c", "--json").json()["id"]
    assert cli("collections", "add", "c", str(root)).code == 0
    assert cli("collections", "process", "c").code == 0
    deliver_outbox(engine, worker)
    assert _status(cli)["status"] == "completed"
    return cid


def _status(cli: Any) -> Any:
    return cli("collections", "status", "c", "--json").json()


def _counts(engine: Engine, cid: str) -> tuple[int, int]:
    """(documents, chunks) stored for the collection."""
    with read_tx(engine) as conn:
        docs = conn.execute(
            select(func.count()).where(documents_t.c.collection_id == cid)
        ).scalar_one()
        chunks = conn.execute(
            select(func.count()).where(chunks_t.c.collection_id == cid)
        ).scalar_one()
    return int(docs), int(chunks)


def test_remove_paths_takes_documents_and_chunks_and_records_it(
    cli: Any, engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "docs")
    cid = _processed(cli, engine, worker, root)
    assert _counts(engine, cid) == (4, 4)

    done = cli("collections", "remove", "c", str(root / "drop"), "--json")
    assert done.code == 0, done.err
    assert sorted(Path(p).name for p in done.json()["removed"]) == ["four.txt", "three.txt"]

    assert _counts(engine, cid) == (2, 2)
    status = _status(cli)
    assert status["status"] == "completed" and status["warnings"] == []
    assert status["documents"]["total"] == 2 and status["documents"]["done"] == 2
    assert status["chunks"] == 2
    hits = cli("search", "c", "deserts sand dry wind", "--json").json()
    assert all("drop" not in h["path"] for h in hits)
    rows = invariant_h_and_o(engine, cid)
    assert (rows[-1].from_status, rows[-1].to_status) == ("completed", "completed")
    history = cli("collections", "history", "c", "--json").json()
    assert "removed 2 document(s)" in history[-1]["message"]
    with read_tx(engine) as conn:
        payload = conn.execute(
            select(outbox_t.c.payload)
            .where(outbox_t.c.key == cid, outbox_t.c.topic == STATUS_CHANGED)
            .order_by(outbox_t.c.id.desc())
            .limit(1)
        ).scalar_one()
    assert payload["change"] == "documents_removed" and payload["documents_removed"] == 2

    # processing again finds nothing to do for the rest, and no counter disagrees
    assert cli("collections", "process", "c").code == 0
    deliver_outbox(engine, worker)
    assert _status(cli)["documents"] == {**_status(cli)["documents"], "total": 2, "skipped": 2}


def test_remove_refuses_unknown_paths_and_bad_usage_and_changes_nothing(
    cli: Any, engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "docs")
    cid = _processed(cli, engine, worker, root)
    before = cli("collections", "history", "c", "--json").json()

    one, nope = str(root / "keep" / "one.txt"), str(tmp_path / "nope")
    cli("collections", "remove", "c", one, nope).assert_one_line_error(
        "nothing was removed", "nope"
    )
    assert _counts(engine, cid) == (4, 4)  # all or nothing
    assert cli("collections", "remove", "c", one).code == 0
    assert _counts(engine, cid) == (3, 3)
    assert cli("collections", "remove", "c").code == 2
    assert cli("collections", "remove", "c", "x", "--missing").code == 2
    assert len(cli("collections", "history", "c", "--json").json()) == len(before) + 1


def test_an_open_run_fences_remove_delete_and_sync(
    cli: Any, engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "docs")
    cid = _processed(cli, engine, worker, root)
    assert cli("collections", "process", "c", "--force").code == 0  # queued, not delivered
    history = cli("collections", "history", "c", "--json").json()
    (root / "drop" / "three.txt").unlink()

    cli("collections", "remove", "c", str(root / "keep")).assert_one_line_error(
        "cannot remove documents from 'c' while it is queued", "collections cancel c"
    )
    cli("collections", "remove", "c", "--missing").assert_one_line_error("while it is queued")
    cli("collections", "delete", "c", "--yes").assert_one_line_error(
        "cannot delete 'c' while it is queued"
    )
    with pytest.raises(InputError, match="while it is queued"), write_tx(engine) as conn:
        remove_missing(conn, cid, [str(root)], why="test", actor="test")

    assert _counts(engine, cid) == (4, 4)
    assert cli("collections", "history", "c", "--json").json() == history
    deliver_outbox(engine, worker)  # the run goes on and ends with what it had
    assert _status(cli)["status"] == "completed_with_errors"
    invariant_h_and_o(engine, cid)


def test_remove_missing_clears_a_failed_document_so_ingest_is_clean_again(
    cli: Any, engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "docs")
    cid: str = cli("collections", "create", "c", "--json").json()["id"]
    assert cli("collections", "add", "c", str(root)).code == 0
    (root / "drop" / "four.txt").unlink()  # gone before processing: fails
    assert cli("collections", "process", "c").code == 0
    deliver_outbox(engine, worker)
    assert _status(cli)["status"] == "completed_with_errors"

    done = cli("collections", "remove", "c", "--missing")
    assert done.code == 0 and "removed 1 document(s)" in done.out and "four.txt" in done.out
    status = _status(cli)
    assert status["documents"]["failed"] == 0 and status["documents"]["total"] == 3
    assert _counts(engine, cid) == (3, 3)
    invariant_h_and_o(engine, cid)


def test_delete_asks_then_deletes_everything_and_leaves_an_event(
    cli: Any, engine: Engine, worker: DocumentWorker, tmp_path: Path, monkeypatch: Any
) -> None:
    root = _tree(tmp_path / "docs")
    cid = _processed(cli, engine, worker, root)
    other: str = cli("collections", "create", "other", "--json").json()["id"]

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    refused = cli("collections", "delete", "c")
    assert refused.code == 1 and _counts(engine, cid) == (4, 4)
    cli("collections", "delete", "c", "--json").assert_one_line_error("--yes")

    done = cli("collections", "delete", "c", "--yes", "--json")
    assert done.code == 0, done.err
    assert done.json() == {"id": cid, "name": "c", "deleted": True, "documents": 4, "chunks": 4}
    with read_tx(engine) as conn:
        for table in (collections_t, runs_t, documents_t, status_events_t):
            column = table.c.id if table is collections_t else table.c.collection_id
            assert conn.execute(select(func.count()).where(column == cid)).scalar_one() == 0
        payload = conn.execute(
            select(outbox_t.c.payload).where(
                outbox_t.c.key == cid, outbox_t.c.topic == COLLECTION_DELETED
            )
        ).scalar_one()
    assert _counts(engine, cid) == (0, 0)
    assert payload["collection_name"] == "c" and payload["from"] == "completed"
    assert payload["seq"] == 5  # after created, queued, processing, completed
    cli("collections", "status", "c").assert_one_line_error("no collection")
    assert [r["name"] for r in cli("collections", "list", "--json").json()] == ["other"]
    invariant_h_and_o(engine, other)
    # the name is free again
    assert cli("collections", "create", "c").code == 0
