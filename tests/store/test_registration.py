"""Registering files: facts only (size, sha256, media type), never parsing the content."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from fileintel.db import read_tx, write_tx
from fileintel.errors import InputError
from fileintel.models.tables import collections_t, documents_t, runs_t
from fileintel.store.documents import register_documents, scan_paths
from tests.helpers import make_collection

LATIN1 = "Café crème, façade, naïve — 50 °C\n".replace("—", "-").encode("latin-1")
BINARY = bytes(range(256)) * 16
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF_WITH_JUNK = b"junk before the header\n%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"\xff" * 32


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def register(engine: Engine, collection_id: str, *paths: Path) -> dict[str, list[str]]:
    facts = scan_paths([str(p) for p in paths]).files
    with write_tx(engine) as conn:
        return register_documents(conn, collection_id, facts).as_dict()


def documents(engine: Engine, collection_id: str) -> dict[str, dict[str, object]]:
    d = documents_t.c
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(d.path, d.size, d.sha256, d.media_type, d.state).where(
                d.collection_id == collection_id
            )
        ).all()
    return {Path(r.path).name: r._asdict() for r in rows}


def counters(engine: Engine, collection_id: str) -> tuple[int, int]:
    c = collections_t.c
    with read_tx(engine) as conn:
        row = conn.execute(
            select(c.documents_total, c.documents_pending).where(c.id == collection_id)
        ).one()
    return row.documents_total, row.documents_pending


def test_undecodable_and_binary_files_are_registered(engine: Engine, tmp_path: Path) -> None:
    collection_id = make_collection(engine, "c")
    files = {
        "latin1.txt": write(tmp_path / "latin1.txt", LATIN1),
        "blob": write(tmp_path / "blob", BINARY),
        "image": write(tmp_path / "image", PNG),
        "scan.PDF": write(tmp_path / "scan.PDF", b"%PDF-1.7\n" + BINARY),
        "report": write(tmp_path / "report", PDF_WITH_JUNK),
        "empty.md": write(tmp_path / "empty.md", b""),
    }
    with pytest.raises(UnicodeDecodeError):
        LATIN1.decode("utf-8")  # the point of the fixture: not valid UTF-8

    result = register(engine, collection_id, *files.values())

    assert sorted(Path(p).name for p in result["added"]) == sorted(files)
    stored = documents(engine, collection_id)
    expected_types = {
        "latin1.txt": "text/plain",
        "blob": "application/octet-stream",
        "image": "image/png",
        "scan.PDF": "application/pdf",
        "report": "application/pdf",
        "empty.md": "text/markdown",
    }
    for name, path in files.items():
        data = path.read_bytes()
        row = stored[name]
        assert row["path"] == str(path.resolve())
        assert row["size"] == len(data)
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["media_type"] == expected_types[name], name
        assert row["state"] == "pending"
    assert counters(engine, collection_id) == (len(files), len(files))


def test_directories_are_walked_recursively_skipping_hidden(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write(root / "top.txt", b"top")
    write(root / "a" / "b" / "c" / "deep.txt", b"deep")
    write(root / "a" / "mid.csv", b"x,y\n1,2\n")
    write(root / ".hidden.txt", b"hidden file")
    write(root / ".cache" / "inside.txt", b"inside a hidden directory")
    write(root / "a" / ".secret" / "more.txt", b"nested hidden directory")
    collection_id = make_collection(engine, "c")

    result = register(engine, collection_id, root)

    assert sorted(Path(p).name for p in result["added"]) == ["deep.txt", "mid.csv", "top.txt"]
    assert set(documents(engine, collection_id)) == {"deep.txt", "mid.csv", "top.txt"}
    assert counters(engine, collection_id) == (3, 3)


def test_registering_again_reports_unchanged_updated_and_duplicates(
    engine: Engine, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "files"  # the SQLite test database lives in tmp_path itself
    one = write(tmp_path / "one.txt", b"first")
    two = write(tmp_path / "two.txt", b"second")
    collection_id = make_collection(engine, "c")
    register(engine, collection_id, one, two)

    write(two, b"second, edited")
    three = write(tmp_path / "three.txt", b"first")  # same bytes as one.txt
    result = register(engine, collection_id, tmp_path)

    assert [Path(p).name for p in result["unchanged"]] == ["one.txt"]
    assert [Path(p).name for p in result["updated"]] == ["two.txt"]
    assert result["added"] == []
    assert result["duplicates"] == [
        {"path": str(three.resolve()), "same_content_as": str(one.resolve())}
    ]
    stored = documents(engine, collection_id)
    assert stored["two.txt"]["sha256"] == hashlib.sha256(b"second, edited").hexdigest()
    assert stored["two.txt"]["size"] == len(b"second, edited")
    assert counters(engine, collection_id) == (2, 2)


def test_a_missing_path_adds_nothing_and_names_every_problem(
    engine: Engine, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.txt", b"fine")
    with pytest.raises(InputError) as caught:
        scan_paths([str(good), str(tmp_path / "gone.txt"), str(tmp_path / "also-gone")])
    message = str(caught.value)
    assert "gone.txt" in message and "also-gone" in message
    assert "nothing was added" in message


def test_one_file_named_twice_is_registered_once_and_not_its_own_duplicate(
    engine: Engine, tmp_path: Path
) -> None:
    """The same file given twice (here also through a symlink) is one file, not two."""
    doc = write(tmp_path / "files" / "doc.txt", b"content")
    (tmp_path / "files" / "link.txt").symlink_to(doc)
    collection_id = make_collection(engine, "c")

    result = register(engine, collection_id, doc, doc, tmp_path / "files" / "link.txt")

    assert result["added"] == [str(doc.resolve())]
    assert result["duplicates"] == [], "a file was reported as a duplicate of itself"
    assert counters(engine, collection_id) == (1, 1)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_special_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        scan_paths([str(fifo)])


def test_same_collection_name_is_per_collection(engine: Engine, tmp_path: Path) -> None:
    """Two collections may hold the same file; duplicates are looked for within one."""
    shared = write(tmp_path / "shared.txt", b"shared")
    first, second = make_collection(engine, "first"), make_collection(engine, "second")
    assert len(register(engine, first, shared)["added"]) == 1
    assert len(register(engine, second, shared)["added"]) == 1
    assert counters(engine, first) == counters(engine, second) == (1, 1)


def test_an_edited_document_of_a_completed_collection_is_flagged(
    engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from fileintel.models.states import CollectionStatus as S
    from fileintel.store.collections import find_collection
    from fileintel.store.runs import request_processing
    from fileintel.store.status import collection_status
    from fileintel.store.transitions import transition

    doc = write(tmp_path / "files" / "doc.txt", b"version 1")
    collection_id = make_collection(engine, "c")
    register(engine, collection_id, doc)
    with write_tx(engine) as conn:  # as if a run had processed it
        run = request_processing(conn, collection_id, options={})
        for target in (S.PROCESSING, S.COMPLETED):
            transition(conn, collection_id, target, actor="test", run_id=run, fence_run=True)
        conn.execute(update(documents_t).values(state="done"))
        conn.execute(update(collections_t).values(documents_pending=0, documents_done=1))
        conn.execute(update(runs_t).values(documents_pending=0, documents_done=1))

    with read_tx(engine) as conn:
        assert conn.execute(select(documents_t.c.run_id)).scalar_one() == run

    write(doc, b"version 2, edited")
    assert [Path(p).name for p in register(engine, collection_id, doc)["updated"]] == ["doc.txt"]

    # Out of date: pending again, detached from the finished run, and status says so.
    assert documents(engine, collection_id)["doc.txt"]["state"] == "pending"
    with read_tx(engine) as conn:
        run_id = conn.execute(select(documents_t.c.run_id)).scalar_one()
        view = collection_status(conn, find_collection(conn, "c"))
    assert run_id is None
    assert view["status"] == "completed"
    assert (view["documents"]["pending"], view["documents"]["done"]) == (1, 0)
    assert [w["code"] for w in view["warnings"]] == ["unprocessed_documents"]
