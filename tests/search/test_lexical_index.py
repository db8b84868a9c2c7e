"""The lexical index is written by the transaction that writes the chunks, on both databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, delete, select

from fileintel.backends import backend_for
from fileintel.db import read_tx, write_tx
from fileintel.models.tables import chunks_t, documents_t
from fileintel.store.documents import register_scan, scan_paths
from fileintel.workers.actors import DocumentWorker
from tests.corpus import deliver_outbox
from tests.search.support import folder_of, processed
from tests.store.test_database_work import request_run


def words(engine: Engine, collection_id: str, *terms: str) -> set[int]:
    with read_tx(engine) as conn:
        found = backend_for(conn).lexical_search(conn, collection_id, list(terms), 100, None)
    return {chunk_id for chunk_id, _ in found}


def chunk_ids(engine: Engine, collection_id: str) -> set[int]:
    with read_tx(engine) as conn:
        rows = conn.execute(select(chunks_t.c.id).where(chunks_t.c.collection_id == collection_id))
        return {r.id for r in rows}


def test_finish_indexes_chunks_and_reprocessing_replaces_them(
    engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    folder = folder_of(
        tmp_path / "docs",
        {
            "bees.txt": "Beekeepers inspect their hives every spring.\n",
            "tax.txt": "Quarterly returns are filed by the accountant.\n",
        },
    )
    collection_id = processed(engine, worker, folder, "words", "hashing")
    first = chunk_ids(engine, collection_id)
    [hive] = words(engine, collection_id, "hive")  # stemmed: "hives" is found by "hive"
    assert hive in first
    assert words(engine, collection_id, "accountant", "nothing") < first

    (folder / "bees.txt").write_text("Beekeepers now harvest honey in late summer.\n")
    with write_tx(engine) as conn:
        register_scan(conn, collection_id, scan_paths([str(folder)]))
    request_run(engine, collection_id)
    deliver_outbox(engine, worker)
    assert words(engine, collection_id, "hive") == set()  # the old chunk left the index
    [honey] = words(engine, collection_id, "honey")
    assert honey not in first and honey in chunk_ids(engine, collection_id)

    with write_tx(engine) as conn:  # a document removed takes its chunks out of the index
        conn.execute(delete(documents_t).where(documents_t.c.collection_id == collection_id))
    assert words(engine, collection_id, "honey", "accountant") == set()


def test_filters_by_document_and_by_collection(
    engine: Engine, worker: DocumentWorker, tmp_path: Path
) -> None:
    folder = folder_of(
        tmp_path / "docs",
        {
            "a.txt": "Accession numbers are written in the register.\n",
            "b.txt": "The register of accession numbers is permanent.\n",
        },
    )
    one = processed(engine, worker, folder, "one", "hashing")
    other = processed(engine, worker, folder, "other", "hashing")
    assert len(words(engine, one, "accession")) == 2
    assert words(engine, one, "accession").isdisjoint(words(engine, other, "accession"))
    with read_tx(engine) as conn:
        a = conn.execute(
            select(documents_t.c.id).where(
                documents_t.c.collection_id == one, documents_t.c.path.like("%a.txt")
            )
        ).scalar_one()
        backend = backend_for(conn)
        assert len(backend.lexical_search(conn, one, ["accession"], 10, [a])) == 1
        assert backend.lexical_search(conn, one, ["accession"], 10, []) == []
        assert backend.lexical_search(conn, one, [], 10, None) == []
