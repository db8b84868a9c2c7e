"""``manual_tx`` and ``prepared``: the hot paths' fewer round trips, on real PostgreSQL.

A transaction that the caller begins itself must still commit only on success, roll back
on any error, and never hand the pool a connection that is inside a transaction. Prepared
statements must survive a transaction that rolls back and come back after the session lost
them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Connection, Engine, exc, text

from fileintel.backends.commit_hooks import note_transition
from fileintel.backends.postgresql_session import manual_tx
from fileintel.backends.prepared import Prepared, execute
from fileintel.db import make_engine, read_tx, write_tx
from fileintel.errors import DatabaseError
from fileintel.metrics import count_commits

COUNT = Prepared(
    "test_count_notes", (("tag", "text"),), "SELECT $1 AS tag, count(*) AS n FROM t WHERE tag = $1"
)


def count(conn: Connection, tag: str, prefix: str = "") -> int:
    """How many rows carry ``tag``, by the prepared COUNT (its row is a named tuple)."""
    row = execute(conn, COUNT, {"tag": tag}, prefix=prefix).one_or_none()
    assert row is not None and row.tag == tag
    return int(row.n)


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    """An engine with one pooled connection and a scratch table ``t``."""
    engine = make_engine(pg_url)
    engine.pool.dispose()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (tag text)"))
        conn.execute(text("TRUNCATE t"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE t"))
    engine.dispose()


def tags(engine: Engine) -> list[str]:
    with read_tx(engine) as conn:
        return sorted(conn.execute(text("SELECT tag FROM t")).scalars())


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_begun_transaction_commits_at_the_end_and_rolls_back_on_error(pg: Engine) -> None:
    with manual_tx(pg) as conn:
        conn.exec_driver_sql("BEGIN; INSERT INTO t VALUES ('kept')")
        conn.exec_driver_sql("INSERT INTO t VALUES ('kept too')")
    with pytest.raises(RuntimeError), manual_tx(pg) as conn:
        conn.exec_driver_sql("BEGIN; INSERT INTO t VALUES ('lost')")
        raise RuntimeError("the caller fails half-way")
    assert tags(pg) == ["kept", "kept too"]


def test_one_statement_without_begin_is_its_own_transaction(pg: Engine) -> None:
    with manual_tx(pg) as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO off; INSERT INTO t VALUES ('a')")
        # committed already: a second connection sees it before the block ends
        assert tags(pg) == ["a"]
    with pytest.raises(exc.DataError), manual_tx(pg) as conn:
        # one implicit transaction: the failing second statement undoes the first
        conn.exec_driver_sql("INSERT INTO t VALUES ('b'); INSERT INTO t VALUES (1/0 || '')")
    assert tags(pg) == ["a"]


def test_a_failed_statement_the_caller_swallowed_rolls_back_and_raises(pg: Engine) -> None:
    with pytest.raises(DatabaseError, match="rolled back"), manual_tx(pg) as conn:
        conn.exec_driver_sql("BEGIN; INSERT INTO t VALUES ('x')")
        with pytest.raises(exc.DataError):
            conn.exec_driver_sql("SELECT 1/0")
    assert tags(pg) == []


def test_the_pool_never_gets_a_connection_inside_a_transaction(pg: Engine) -> None:
    pid = backend_pid(pg)
    with manual_tx(pg) as conn:
        conn.exec_driver_sql("BEGIN; INSERT INTO t VALUES ('done')")
        conn.exec_driver_sql("COMMIT")  # the caller may end it itself (the relay's mark does)
    assert backend_pid(pg) == pid  # idle afterwards: returned to the pool and reused
    with write_tx(pg) as conn:  # and back in the driver's own transactions
        conn.execute(text("INSERT INTO t VALUES ('normal')"))
        assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
    # a session that dies inside the transaction is dropped, not pooled
    with pytest.raises(DatabaseError), manual_tx(pg) as conn:
        conn.exec_driver_sql("BEGIN; INSERT INTO t VALUES ('gone')")
        victim = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with read_tx(make_engine(str(pg.url))) as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        conn.exec_driver_sql("SELECT 1")
    assert backend_pid(pg) != victim
    assert tags(pg) == ["done", "normal"]


def test_a_statement_is_prepared_once_per_connection(pg: Engine) -> None:
    with manual_tx(pg) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES ('n'), ('n'), ('m')")
        assert count(conn, "n") == 2
        assert count(conn, "m") == 1
        names = conn.exec_driver_sql("SELECT name FROM pg_prepared_statements").scalars().all()
        assert list(names) == [COUNT.name]


def test_a_prepared_statement_outlives_a_rollback_and_comes_back_after_discard(
    pg: Engine,
) -> None:
    with pytest.raises(RuntimeError), manual_tx(pg) as conn:
        count(conn, "n", prefix="BEGIN; ")
        raise RuntimeError("rolled back")
    with manual_tx(pg) as conn:  # same session: still prepared, not prepared again
        assert count(conn, "n") == 0
        conn.exec_driver_sql("DISCARD ALL")  # what a pooler in transaction mode would do
        with pytest.raises(exc.DBAPIError, match="does not exist"):
            count(conn, "n")
        assert count(conn, "n") == 0  # prepared again


def test_a_statement_prepared_behind_our_back_is_used(pg: Engine) -> None:
    with manual_tx(pg) as conn:
        conn.exec_driver_sql(COUNT.prepare_sql)  # the session has it, the record does not
        assert count(conn, "n") == 0


def test_a_body_that_uses_an_undeclared_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="uses"):
        Prepared("bad", (("a", "int"),), "SELECT $1 + $2")


def test_commit_listeners_see_a_caller_begun_transaction(pg: Engine) -> None:
    """Transitions are counted when their transaction commits (``metrics``): a finish that
    closes a run commits through ``manual_tx``, so its commit must reach the listeners,
    and a rolled-back one must not leave its transitions behind for the next commit."""
    count_commits(pg)

    def counted() -> float:
        return (
            REGISTRY.get_sample_value(
                "fileintel_transitions_total",
                {"from_status": "processing", "to_status": "completed"},
            )
            or 0.0
        )

    before = counted()
    with manual_tx(pg) as conn:
        conn.exec_driver_sql("BEGIN; INSERT INTO t VALUES ('closed')")
        note_transition(conn, "processing", "completed")
    assert counted() == before + 1
    with pytest.raises(RuntimeError), manual_tx(pg) as conn:
        conn.exec_driver_sql("BEGIN; INSERT INTO t VALUES ('undone')")
        note_transition(conn, "processing", "completed")
        raise RuntimeError("rolled back")
    with write_tx(pg) as conn:  # a later commit on the same connection counts nothing old
        conn.execute(text("INSERT INTO t VALUES ('plain')"))
    assert counted() == before + 1
