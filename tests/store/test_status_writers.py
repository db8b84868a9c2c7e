"""Only the transition rule may write a collection's status columns.

The rule is ``fileintel/store/transitions.py``; the statements it runs are each backend's
``move_collection`` (a method in ``fileintel/backends/*.py``, a named query in
``postgresql.sql``), which nothing else calls. The check reads every module under
``fileintel/`` as an AST, and every named query as SQL text, and reports:

- SQLAlchemy ``update(collections_t)`` / ``insert(collections_t)`` (or ``Collection``,
  ``collections_t.update()``) statements whose ``.values(...)`` set a guarded column, by
  keyword or dict key, including a dict held in a local variable and filled in later
  (``values["status"] = ...``) and a statement held in a local variable;
- executemany-style parameters (``conn.execute(update(collections_t), {"status": ...})``);
- attribute assignment or ``setattr`` of a guarded name in a module that imports the ORM
  class ``Collection``;
- SQL text (string literals, f-strings) of the form ``UPDATE collections SET ... status =``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fileintel.backends.postgresql_queries import load
from tests.store.status_writes import Finding, status_writes

PACKAGE = Path(__file__).resolve().parents[2] / "fileintel"
THE_WRITER = PACKAGE / "store" / "transitions.py"
#: The backends' statements of the transition: allowed to write, called only by THE_WRITER.
STATEMENT = "move_collection"


def package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _statement_lines(source: str) -> set[int]:
    """The lines of the backends' ``move_collection`` methods in ``source``."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == STATEMENT:
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def named_query_writes() -> dict[str, list[Finding]]:
    """The status writes of each named query of the PostgreSQL backend."""
    return {
        name: status_writes(repr(sql), f"postgresql.sql:{name}") for name, sql in load().items()
    }


def test_no_other_module_writes_collection_status() -> None:
    modules = package_modules()
    assert THE_WRITER in modules and len(modules) > 10
    findings = []
    for path in modules:
        if path == THE_WRITER:
            continue
        source = path.read_text()
        allowed = _statement_lines(source) if path.parent.name == "backends" else set()
        where = str(path.relative_to(PACKAGE.parent))
        findings += [f for f in status_writes(source, where) if f.line not in allowed]
    for name, found in named_query_writes().items():
        if name != STATEMENT:
            findings += found
    assert not findings, "status written outside the transition:\n" + "\n".join(map(str, findings))


def test_only_the_transition_calls_the_backends_statement() -> None:
    callers = [
        str(path.relative_to(PACKAGE.parent))
        for path in package_modules()
        if f".{STATEMENT}(" in path.read_text()
    ]
    assert callers == [str(THE_WRITER.relative_to(PACKAGE.parent))]


def test_the_transition_module_is_recognised_as_a_writer() -> None:
    """The real writers are found, so the check is not vacuously passing."""
    created = " ".join(f.what for f in status_writes(THE_WRITER.read_text()))
    assert "status" in created and "last_seq" in created
    sqlite = (PACKAGE / "backends" / "sqlite.py").read_text()
    moved = [f for f in status_writes(sqlite) if f.line in _statement_lines(sqlite)]
    what = " ".join(f.what for f in moved)
    assert "status" in what and "last_seq" in what and "current_run_id" in what
    pg = " ".join(f.what for f in named_query_writes()[STATEMENT])
    assert "status" in pg and "last_seq" in pg and "current_run_id" in pg


# -- the checker itself -------------------------------------------------------------------

FLAGGED = {
    "update_kwargs": """
from sqlalchemy import update
from fileintel.models.tables import collections_t
def f(conn, cid):
    conn.execute(update(collections_t).where(collections_t.c.id == cid).values(status="failed"))
""",
    "update_dict": """
import sqlalchemy as sa
def f(conn, cid, c):
    conn.execute(sa.update(collections_t).where(c.id == cid).values({"version": c.version + 1}))
""",
    "table_method": """
def f(conn):
    conn.execute(collections_t.update().values(last_seq=0))
""",
    "dict_variable_filled_later": """
def f(conn, cid, run_id):
    values = {"documents_total": 0}
    values["current_run_id"] = run_id
    conn.execute(update(collections_t).where(collections_t.c.id == cid).values(values))
""",
    "statement_in_variable": """
def f(conn, cid):
    stmt = update(collections_t).where(collections_t.c.id == cid)
    conn.execute(stmt.values(previous_status=None))
""",
    "executemany_params": """
def f(conn):
    conn.execute(update(collections_t), [{"status": "queued"}])
""",
    "orm_class": """
from sqlalchemy import update
def f(session):
    session.execute(update(Collection).values(status_updated_at=None))
""",
    "orm_attribute": """
from fileintel.models import Collection
def f(session, cid):
    coll = session.get(Collection, cid)
    coll.status = "completed"
""",
    "orm_setattr": """
from fileintel.models.tables import Collection
def f(coll):
    setattr(coll, "version", 7)
""",
    "raw_sql": """
from sqlalchemy import text
def f(conn, cid):
    conn.execute(text("UPDATE collections SET status = 'failed' WHERE id = :id"), {"id": cid})
""",
    "raw_sql_multiline_fstring": '''
def f(conn, table_suffix):
    conn.exec_driver_sql(f"""
        update collections
           set documents_failed = 0, current_run_id = NULL
         where id = '{table_suffix}'
    """)
''',
    "insert_bypassing_history": """
def f(conn):
    conn.execute(insert(collections_t).values(id="x", name="x", status="completed"))
""",
}

NOT_FLAGGED = {
    "counters": """
def f(conn, cid, c):
    conn.execute(update(collections_t).where(c.id == cid, c.status == "processing")
                 .values(documents_done=c.documents_done + 1))
""",
    "other_tables": """
def f(conn, run_id):
    conn.execute(update(runs_t).values(status="failed"))
    conn.execute(update(documents_t).values({"state": "done", "version": 2}))
""",
    "reading_status": """
def f(conn, c):
    return conn.execute(select(c.status, c.version).where(c.status == "queued")).all()
""",
    "sql_where_mentions_status": """
SQL = "UPDATE collections SET documents_pending = 0 WHERE status = 'queued'"
""",
    "status_message_only": """
SQL = "UPDATE collections SET status_message = 'x' WHERE id = 1"
""",
    "plain_objects": """
class Progress:
    def __init__(self):
        self.status = "running"
""",
}


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_checker_flags_status_writes(name: str) -> None:
    findings = status_writes(FLAGGED[name])
    assert findings, f"the checker missed {name}"


@pytest.mark.parametrize("name", sorted(NOT_FLAGGED))
def test_checker_leaves_other_writes_alone(name: str) -> None:
    assert status_writes(NOT_FLAGGED[name]) == []
