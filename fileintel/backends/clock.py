"""The database clock (``models.clock.db_now``) in each database's SQL.

Registered when ``fileintel.backends`` is imported, before any backend is loaded: a
statement that reads the clock compiles on an engine made anywhere, not only through
``db.make_engine``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles

from fileintel.models.clock import db_now


@compiles(db_now, "postgresql")
def _pg_now(element: db_now, compiler: Any, **kw: Any) -> str:
    if element.seconds is None:
        return "clock_timestamp()"
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"(clock_timestamp() + make_interval(secs => CAST({arg} AS double precision)))"


@compiles(db_now, "sqlite")
def _sqlite_now(element: db_now, compiler: Any, **kw: Any) -> str:
    # Same text layout SQLAlchemy uses for SQLite DATETIME (microseconds), so comparisons
    # sort correctly and a value read back compares equal when bound again.
    if element.seconds is None:
        return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', ({arg}) || ' seconds') || '000')"
