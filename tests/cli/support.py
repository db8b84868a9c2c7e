"""Helpers for the CLI tests: the result of one invocation, counts, timestamps."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from fileintel.db import read_tx
from fileintel.models.states import DocumentState
from fileintel.models.tables import documents_t

#: The keys of ``collections status --json`` (the documented shape).
STATUS_KEYS = {
    "id",
    "name",
    "status",
    "status_description",
    "status_updated_at",
    "seconds_in_status",
    "status_message",
    "current_run_id",
    "attempt",
    "documents",
    "chunks",
    "embedding_coverage",
    "warnings",
}
DOCUMENT_COUNTERS = {"total", *(s.value for s in DocumentState)}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def assert_one_line_error(self, *fragments: str) -> str:
        """Exit 1, nothing on stdout, exactly one line on stderr containing ``fragments``."""
        assert self.code == 1, (self.code, self.out, self.err)
        assert "Traceback" not in self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
        return lines[0]


def count_documents(engine: Engine) -> int:
    with read_tx(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(documents_t)).scalar_one())


def parse_utc(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0), value
    return parsed
