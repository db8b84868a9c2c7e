"""The database clock as a SQL expression.

Time that matters for correctness (status_updated_at, leases) comes from the database, never
from the client, so processes on different machines agree. Each backend compiles ``db_now``
for its database (``fileintel.backends``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal
from sqlalchemy.sql.expression import FunctionElement

from fileintel.models.base import UTCDateTime


class db_now(FunctionElement[Any]):
    """The database's current UTC time, optionally shifted by ``seconds`` (may be negative)."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds: Any = None) -> None:
        self.seconds = seconds
        args = (
            ()
            if seconds is None
            else (literal(seconds) if not hasattr(seconds, "compile") else seconds,)
        )
        super().__init__(*args)
