"""PostgreSQL's named queries, read once from ``postgresql.sql``.

Each query is a block of that file that starts with ``-- name: <name>``; its comment lines
say what it does and are left out of the text sent. The hot ones are wrapped as
``Prepared`` statements (parsed and planned once per connection) with their parameters'
names and types.
"""

from __future__ import annotations

import re
from pathlib import Path

from fileintel.backends.prepared import Prepared
from fileintel.models.events import COUNTER_FIELDS
from fileintel.models.states import DocumentState

_SOURCE = Path(__file__).with_name("postgresql.sql")
_NAME = re.compile(r"^-- name: (\w+)\s*$")


def load(path: Path = _SOURCE) -> dict[str, str]:
    """The named queries of ``path``: name → SQL without its comment lines."""
    queries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        match = _NAME.match(line)
        if match:
            current = queries.setdefault(match.group(1), [])
        elif current is not None and not line.startswith("--"):
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in queries.items()}


QUERIES = load()

CLAIM_DOCUMENT = Prepared(
    "fileintel_claim_document",
    (("run_id", "text"), ("document_id", "bigint"), ("attempt", "int"), ("lease", "float8")),
    QUERIES["claim_document"],
)

_FINISH_PARAMS = (
    ("run_id", "text"),
    ("document_id", "bigint"),
    ("attempt", "int"),
    ("collection_id", "text"),
    ("chunks", "int"),
    ("embedded", "int"),
    ("error", "text"),
    ("metadata", "json"),
    ("sha256", "text"),
    ("fingerprint", "text"),
    ("payload", "jsonb"),
)
#: The run's counters, returned and merged into the progress event, from the one list.
_COUNTERS = {
    "counter_columns": ", ".join(f"documents_{name}" for name in COUNTER_FIELDS),
    "counters_json": "jsonb_build_object("
    + ", ".join(f"'{name}', run.documents_{name}" for name in COUNTER_FIELDS)
    + ")",
}
#: The old chunks deleted and taken off the counters, or (a document that had none, whose
#: new chunks were copied in before the statement) nothing to delete.
_REPLACE = {
    "old_chunks": "(SELECT count(*) FROM chunks WHERE document_id = $2)",
    "old_embedded": "(SELECT count(embedding_dim) FROM chunks WHERE document_id = $2)",
    "old_cte": ", old AS (\n    DELETE FROM chunks WHERE document_id = (SELECT id FROM doc)\n)",
}
_ADD = {"old_chunks": "0", "old_embedded": "0", "old_cte": ""}
_DONE_VALUES = (
    "state = 'done', error = NULL, chunk_count = $5, embedded_count = $6, metadata = $8, "
    "processed_sha256 = $9, processed_options = $10"
)
# A failed document keeps no chunks; $7 is its reason. It takes $8-$10 (as nulls) so that
# all three statements are called the same way.
_FAILED_VALUES = "state = 'failed', error = $7, chunk_count = 0, embedded_count = 0"


def _finish(name: str, values: str, dst: DocumentState, old: dict[str, str]) -> Prepared:
    body = QUERIES["finish_document"].format(
        document_values=values, dst=dst.value, **old, **_COUNTERS
    )
    return Prepared(name, _FINISH_PARAMS, body)


FINISH_DONE = _finish("fileintel_finish_done", _DONE_VALUES, DocumentState.DONE, _REPLACE)
#: For a document that had no chunks when claimed: its new chunks were copied in first.
FINISH_DONE_ADDED = _finish("fileintel_finish_done_added", _DONE_VALUES, DocumentState.DONE, _ADD)
FINISH_FAILED = _finish("fileintel_finish_failed", _FAILED_VALUES, DocumentState.FAILED, _REPLACE)

CLAIM_OUTBOX = Prepared(
    "fileintel_outbox_claim",
    (("limit", "int"), ("kinds", "text[]"), ("after", "bigint"), ("skip", "text[]")),
    QUERIES["claim_outbox"],
)
