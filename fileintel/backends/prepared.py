"""Server-side prepared statements on PostgreSQL, prepared once per connection.

The hot statements (a worker's claim and finish, the relay's claim) are parsed and planned
once per connection with ``PREPARE`` and then run with ``EXECUTE``: for statements of a
few data-modifying CTEs, parsing and planning cost more than running them.

A connection remembers what it prepared in its pool record (``Connection.connection.info``),
which lives as long as the database session. If the session lost its statements behind our
back (a pooler's ``DISCARD ALL``), ``EXECUTE`` fails with "prepared statement does not
exist": the statement is forgotten and prepared again on the next use. Prepared statements
are not transactional, so one prepared inside a transaction that rolls back stays.

FileIntel therefore needs a database session per connection: a direct connection or a
pooler in session mode (the relay's LISTEN needs that too).

``EXECUTE`` goes to the driver's cursor directly and its rows come back as named tuples:
SQLAlchemy's statement and result handling cost a worker about 0.2 ms of CPU per call, a
few percent of a document's cost, for nothing these statements use. Driver errors are
raised as SQLAlchemy's (``exc.DBAPIError`` and its subclasses), as ``exec_driver_sql``
would raise them; a connection they leave broken is discarded by ``postgresql_session.manual_tx``.
"""

from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection

from fileintel.backends.postgresql_session import TX_INERROR, transaction_status

_DUPLICATE_PREPARED = "42P05"
_UNKNOWN_PREPARED = "26000"
_INFO_KEY = "fileintel.prepared"


@dataclass(frozen=True)
class Prepared:
    """A named statement: ``params`` name its ``$1, $2 ...`` in order, with their types.

    Every parameter is sent on each call; the body may leave some unused (two statements
    called the same way)."""

    name: str
    params: tuple[tuple[str, str], ...]
    body: str
    #: The row type per result shape (column names), made on first use.
    _row_types: dict[tuple[str, ...], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        used = {int(n) for n in re.findall(r"\$(\d+)", self.body)}
        if not used <= set(range(1, len(self.params) + 1)):
            raise ValueError(f"{self.name}: the body uses {sorted(used)} of {len(self.params)}")

    @property
    def prepare_sql(self) -> str:
        types = ", ".join(t for _, t in self.params)
        return f"PREPARE {self.name} ({types}) AS\n{self.body}"

    @property
    def execute_sql(self) -> str:
        args = ", ".join(f"%({n})s" for n, _ in self.params)
        return f"EXECUTE {self.name} ({args})"

    def row_type(self, columns: tuple[str, ...]) -> Any:
        """A named tuple type for rows with these columns."""
        made = self._row_types.get(columns)
        if made is None:
            made = self._row_types[columns] = namedtuple("Row", columns)
        return made


class Rows(list[Any]):
    """The rows a prepared statement returned, in order."""

    def one_or_none(self) -> Any:
        """The only row, or None; more than one is an error."""
        if len(self) > 1:
            raise exc.MultipleResultsFound("more than one row where one was expected")
        return self[0] if self else None


def execute(
    conn: Connection, statement: Prepared, params: dict[str, Any], *, prefix: str = ""
) -> Rows:
    """Run ``statement`` with ``params``, preparing it first on this connection if needed.

    ``prefix`` is sent in front of the ``EXECUTE`` in the same round trip (for example
    ``BEGIN;`` or ``SET LOCAL ...;``).
    """
    prepared: set[str] = conn.connection.info.setdefault(_INFO_KEY, set())
    if statement.name not in prepared:
        try:
            conn.exec_driver_sql(statement.prepare_sql)
        except exc.DBAPIError as e:
            if _pgcode(e) != _DUPLICATE_PREPARED:
                raise
            # Prepared on this session by an attempt that did not get to record it. Outside
            # a transaction the error changed nothing and we go on; inside one it aborted the
            # transaction, and the caller's next attempt executes the statement.
            prepared.add(statement.name)
            if _transaction_failed(conn):
                raise
        prepared.add(statement.name)
    sql = prefix + statement.execute_sql
    dbapi: Any = conn.connection.dbapi_connection
    try:
        with dbapi.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.description is None:
                return Rows()
            row = statement.row_type(tuple(d[0] for d in cursor.description))
            return Rows(map(row._make, cursor.fetchall()))
    except dbapi.Error as e:
        if getattr(e, "pgcode", None) == _UNKNOWN_PREPARED:
            prepared.discard(statement.name)  # lost (DISCARD ALL?): prepared again next time
        raise exc.DBAPIError.instance(sql, params, e, dbapi.Error) from e


def _transaction_failed(conn: Connection) -> bool:
    return transaction_status(conn) == TX_INERROR


def _pgcode(e: exc.DBAPIError) -> str | None:
    return getattr(e.orig, "pgcode", None)
