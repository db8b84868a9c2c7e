"""Fixtures of the migration tests: a database of each test's own, never migrated.

These tests live in ``tests/migrations/`` (not ``tests/models/``) because they test the
``fileintel/migrations`` package (Alembic's environment and its revisions) and ``db
upgrade``, not the table definitions: they need databases that the shared ``db_url``
fixture cannot give (empty, migrated up and down), so they create and drop their own here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from fileintel.db import dispose_engines
from tests.services import PG_ADMIN_URL, need


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, never migrated database of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        dispose_engines()
        return
    need("postgresql")
    name = f"fileintel_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
