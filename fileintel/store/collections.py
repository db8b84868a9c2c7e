"""Creating, finding and listing collections."""

from __future__ import annotations

import enum
import unicodedata
import uuid
from typing import TypeVar

from sqlalchemy import Row, exc, select
from sqlalchemy.engine import Connection

from fileintel.errors import InputError, NotFound
from fileintel.models.states import CollectionStatus
from fileintel.models.tables import collections_t
from fileintel.store.transitions import record_creation

MAX_NAME_LENGTH = 200

E = TypeVar("E", bound=enum.StrEnum)


def validate_name(name: str) -> str:
    """Return ``name`` if it can name a collection, else raise InputError saying why."""
    if not name or name != name.strip():
        raise InputError(f"collection name {name!r} is empty or has surrounding spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"collection name is {len(name)} characters; at most {MAX_NAME_LENGTH}")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise InputError(
            f"collection name {name!r} contains control characters; use printable ones"
        )
    if as_uuid(name) is not None:
        raise InputError(
            f"collection name {name!r} looks like a collection id and could not be found "
            "by name; choose another"
        )
    return name


def as_uuid(value: str) -> str | None:
    """``value`` as an id in its stored form (lower-case, hyphenated) if it is a UUID."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def create_collection(
    conn: Connection, name: str, description: str | None = None, *, actor: str = "cli"
) -> str:
    """Create a collection in ``created`` (with its first history row); return its id."""
    validate_name(name)
    existing = conn.execute(
        select(collections_t.c.id).where(collections_t.c.name == name)
    ).scalar_one_or_none()
    if existing is not None:
        raise InputError(f"collection '{name}' already exists (id {existing})")
    collection_id = str(uuid.uuid4())
    try:
        with conn.begin_nested():
            record_creation(
                conn, collection_id=collection_id, name=name, description=description, actor=actor
            )
    except exc.IntegrityError as e:
        raise InputError(f"collection '{name}' already exists") from e
    return collection_id


def find_collection(conn: Connection, name_or_id: str) -> Row[tuple[object, ...]]:
    """The collection whose id or name is ``name_or_id``; NotFound when there is none."""
    c = collections_t.c
    row = conn.execute(
        select(collections_t).where(c.id == (as_uuid(name_or_id) or name_or_id))
    ).one_or_none()
    if row is None:
        row = conn.execute(select(collections_t).where(c.name == name_or_id)).one_or_none()
    if row is None:
        raise NotFound(
            f"no collection named or with id '{name_or_id}'; see 'fileintel collections list'"
        )
    return row


def parse_status_filter(value: str | None) -> CollectionStatus | None:
    """Turn a ``--status`` option into a status, or raise InputError listing the valid ones."""
    return parse_choice(value, CollectionStatus, "status")


def parse_choice(value: str | None, choices: type[E], what: str) -> E | None:
    """``value`` as a member of ``choices`` (None stays None), or InputError listing them."""
    if value is None:
        return None
    try:
        return choices(value)
    except ValueError as e:
        valid = ", ".join(m.value for m in choices)
        raise InputError(f"unknown {what} '{value}'; valid values: {valid}") from e
