"""Fixtures of the migration tests: a database of each test's own, never migrated.

These tests live in ``tests/migrations/`` (not ``tests/models/``) because they test the
``fileintel/migrations`` package (Alembic's environment and its revisions) and ``db
upgrade``, not the table definitions: they need databases that the shared ``db_url``
fixture cannot give (empty, migrated up and down), so they create and drop their own here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fileintel.db import dispose_engines
from tests.services import scratch_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, never migrated database of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        dispose_engines()
        return
    with scratch_pg_database("fileintel_mig") as url:
        yield url
