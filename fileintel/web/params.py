"""Query values, checked: a bad one is an ``InputError`` (400) naming it and what is allowed."""

from __future__ import annotations

from starlette.datastructures import URL, QueryParams

from fileintel.errors import InputError

#: Page sizes of the paged routes: the default and the most one request may ask for.
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def position_param(value: str | None, name: str) -> int | None:
    """An event position (a non-negative integer), or None when absent."""
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise InputError(f"{name} must be an event id (a non-negative integer), got {value!r}")
    return int(value)


def limit_param(query: QueryParams) -> int:
    """``limit``: 1 to MAX_PAGE, DEFAULT_PAGE when absent."""
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InputError(f"limit must be a whole number from 1 to {MAX_PAGE}, got {raw!r}")
    return int(raw)


def document_cursor(query: QueryParams) -> int | None:
    """``after`` of the documents: the id of the last document of the previous page."""
    raw = query.get("after")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InputError(f"after must be a document id (a whole number), got {raw!r}")
    return int(raw)


def flag_param(query: QueryParams, name: str) -> bool:
    """A boolean query value: 1/true/yes or 0/false/no (absent: false)."""
    raw = query.get(name)
    if raw is None:
        return False
    if raw.lower() in ("1", "true", "yes", ""):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise InputError(f"{name} must be true or false, got {raw!r}")


def next_link(url: URL, after: object) -> str:
    """A ``Link`` header naming the next page (RFC 8288)."""
    return f'<{url.include_query_params(after=after)}>; rel="next"'
