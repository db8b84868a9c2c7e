"""The database clock compiles for every database as soon as the store is imported, on an
engine made anywhere (a script's own ``create_engine`` included), not only after a backend
was loaded by ``db.make_engine``."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import fileintel.store.transitions  # what a script using the store imports
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from fileintel.models.clock import db_now
assert "fileintel.backends.postgresql" not in sys.modules
print(select(db_now()).compile(dialect=postgresql.dialect()))
print(select(db_now(5)).compile(dialect=sqlite.dialect()))
"""


def test_db_now_compiles_before_any_backend_is_loaded() -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import sys\n" + PROBE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "clock_timestamp()" in run.stdout and "strftime" in run.stdout
