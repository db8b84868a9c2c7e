"""The server-rendered pages: collections, one collection, one run.

Each page is rendered from the same store functions as the API, with the event position
taken *before* the database is read; the page's script follows ``/api/events`` from that
position, so whatever changes after the read arrives as an event (some twice, harmlessly:
every update sets absolute values). Templates autoescape every value.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from fileintel.db import read_tx
from fileintel.models.states import CollectionStatus
from fileintel.store.collections import find_collection, parse_status_filter
from fileintel.store.documents import list_documents, parse_state_filter
from fileintel.store.explain import explain
from fileintel.store.runs import run_view, runs_of
from fileintel.store.status import collection_status, history, list_collections
from fileintel.web.params import DEFAULT_PAGE, document_cursor

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
#: Progress bar segments, in the order they are drawn.
SEGMENTS = ("done", "skipped", "failed", "processing", "pending")


def ago(iso: str | None, now: dt.datetime | None = None) -> str:
    """``"4 min ago"`` for an ISO 8601 time (the page's script keeps it current)."""
    if not iso:
        return "-"
    at = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = max(0, int(((now or dt.datetime.now(dt.UTC)) - at).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def progress(documents: dict[str, int]) -> dict[str, Any]:
    """A progress bar: each segment's share of the total, and the percent finished."""
    total = documents.get("total", 0)
    finished = sum(documents.get(k, 0) for k in ("done", "skipped", "failed"))
    return {
        "total": total,
        "percent": round(100 * finished / total) if total else 0,
        "segments": [
            (name, documents.get(name, 0), 100 * documents.get(name, 0) / total if total else 0)
            for name in SEGMENTS
        ],
    }


TEMPLATES.env.filters["ago"] = ago
TEMPLATES.env.globals["progress"] = progress
TEMPLATES.env.globals["statuses"] = [s.value for s in CollectionStatus]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _position(request: Request) -> int:
    return int(request.app.state.fanout.position)


def collections_page(request: Request) -> Response:
    """Every collection (a page at a time): status, time in state, progress, warnings."""
    query = request.query_params
    status = parse_status_filter(query.get("status") or None)
    position = _position(request)
    with read_tx(_engine(request)) as conn:
        rows = list_collections(conn, status=status, limit=DEFAULT_PAGE, after=query.get("after"))
    context = {
        "rows": rows,
        "position": position,
        "status": status.value if status else "",
        "next_after": rows[-1]["id"] if len(rows) == DEFAULT_PAGE else None,
    }
    return TEMPLATES.TemplateResponse(request, "collections.html", context)


def collection_page(request: Request) -> Response:
    """One collection: summary, live progress, documents by state, history, runs, explain."""
    query = request.query_params
    state = parse_state_filter(query.get("state") or None)
    after = document_cursor(query)
    position = _position(request)
    with read_tx(_engine(request)) as conn:
        found = find_collection(conn, request.path_params["name"])
        docs = list_documents(conn, found.id, state, DEFAULT_PAGE, after_id=after)
        context = {
            "view": collection_status(conn, found),
            "explain": explain(conn, found),
            "documents": docs,
            "history": history(conn, found.id),
            "runs": runs_of(conn, found.id),
            "position": position,
            "state": state.value if state else "",
            "next_after": docs[-1]["id"] if len(docs) == DEFAULT_PAGE else None,
        }
    return TEMPLATES.TemplateResponse(request, "collection.html", context)


def run_page(request: Request) -> Response:
    """One run: its collection, status, times, progress and error."""
    position = _position(request)
    with read_tx(_engine(request)) as conn:
        view = run_view(conn, request.path_params["run_id"])
    return TEMPLATES.TemplateResponse(request, "run.html", {"run": view, "position": position})


ROUTES = [
    Route("/", collections_page),
    Route("/collections/{name:path}", collection_page),
    Route("/runs/{run_id}", run_page),
]
