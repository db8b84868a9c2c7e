"""Schema migrations: upgrade, downgrade, and "is this database at head?".

Every command checks the database's revision before it reads or writes: that check is one
small query against ``alembic_version`` compared with ``HEAD_REVISION``, so the commands
that only read never load Alembic (it costs more to import than the command takes to run).
Only the functions that run Alembic import it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from fileintel.config import mask_url
from fileintel.errors import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: The newest revision under ``migrations/versions``: the schema this code reads and
#: writes. A new migration updates it (a test compares it with Alembic's head).
HEAD_REVISION = "0005"

#: Alembic's table of the applied revision (its default name).
VERSION_TABLE = "alembic_version"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    # Alembic's default is the sys.stdout of the moment it was imported; name today's.
    cfg = Config(stdout=sys.stdout)
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (e.g. "base")."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision shipped with this version of FileIntel, as Alembic finds it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated (or was
    downgraded to base): what Alembic's ``MigrationContext`` reads, without Alembic."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        versions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(versions) > 1:
        raise DatabaseError(
            f"{VERSION_TABLE} has {len(versions)} revisions ({', '.join(versions)}); "
            "FileIntel's migrations have one head"
        )
    return versions[0] if versions else None


def require_head(engine: Engine) -> None:
    """Raise DatabaseError unless the database is migrated to this version's head."""
    current = current_revision(engine)
    if current != HEAD_REVISION:
        where = f"at revision {current}" if current else "not initialised"
        raise DatabaseError(
            f"database {mask_url(engine.url.render_as_string(hide_password=False))} is {where}, "
            f"expected {HEAD_REVISION}; run 'fileintel db upgrade'"
        )
