"""The read-only JSON API: each route is a CLI ``--json`` output, from the same store
function (one contract, two faces). Lists are paged with ``limit`` and ``after``; the next
page is named in a ``Link`` header, so a page's body is exactly the CLI's list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fileintel.config import Settings
from fileintel.db import read_tx
from fileintel.doctor import run_checks
from fileintel.store.collections import find_collection, parse_status_filter
from fileintel.store.documents import documents_json, list_documents, parse_state_filter
from fileintel.store.explain import explain
from fileintel.store.outbox_state import outbox_status
from fileintel.store.runs import run_view
from fileintel.store.status import collection_status, history, list_collections
from fileintel.web.params import document_cursor, flag_param, limit_param, next_link
from fileintel.web.sse import events


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``data`` as the CLI prints it (datetimes are ISO strings already)."""
    body = json.dumps(data, indent=2, default=str)
    return Response(body, status, headers, media_type="application/json")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _page(request: Request, rows: list[dict[str, Any]], limit: int) -> Response:
    """A full page names the next one (after its last row's id) in a ``Link`` header."""
    headers = {"Link": next_link(request.url, rows[-1]["id"])} if len(rows) == limit else None
    return json_response(rows, headers=headers)


def _of_collection(request: Request, view: Callable[[Connection, Any], Any]) -> Response:
    """``view`` of the collection named (or with the id) in the path."""
    with read_tx(_engine(request)) as conn:
        data = view(conn, find_collection(conn, request.path_params["name"]))
    return json_response(data)


def collections_list(request: Request) -> Response:
    """``collections list --json``, one page: ``?status=&stuck=&limit=&after=``."""
    query = request.query_params
    status = parse_status_filter(query.get("status"))
    stuck = flag_param(query, "stuck")
    limit = limit_param(query)
    with read_tx(_engine(request)) as conn:
        rows = list_collections(
            conn, status=status, stuck=stuck, limit=limit, after=query.get("after")
        )
    return _page(request, rows, limit)


def collection(request: Request) -> Response:
    """``collections status NAME --json``."""
    return _of_collection(request, collection_status)


def collection_history(request: Request) -> Response:
    """``collections history NAME --json``."""
    return _of_collection(request, lambda conn, found: history(conn, found.id))


def collection_documents(request: Request) -> Response:
    """``collections documents NAME --json``, one page: ``?state=&limit=&after=``."""
    query = request.query_params
    state = parse_state_filter(query.get("state"))
    limit, after = limit_param(query), document_cursor(query)
    with read_tx(_engine(request)) as conn:
        found = find_collection(conn, request.path_params["name"])
        rows = documents_json(list_documents(conn, found.id, state, limit, after_id=after))
    return _page(request, rows, limit)


def collection_explain(request: Request) -> Response:
    """The ``explain`` object of ``collections status NAME --explain --json``."""
    return _of_collection(request, explain)


def run(request: Request) -> Response:
    """``runs show RUN_ID --json``."""
    with read_tx(_engine(request)) as conn:
        view = run_view(conn, request.path_params["run_id"])
    return json_response(view)


def outbox(request: Request) -> Response:
    """``outbox status --json``."""
    with read_tx(_engine(request)) as conn:
        view = outbox_status(conn)
    return json_response(view)


def health(request: Request) -> Response:
    """``doctor --json``; 503 when a check fails."""
    settings: Settings = request.app.state.settings
    checks = [c.as_dict() for c in run_checks(settings)]
    failed = any(c["level"] == "FAIL" for c in checks)
    return json_response(checks, status=503 if failed else 200)


ROUTES = [
    Route("/api/collections", collections_list),
    Route("/api/collections/{name:path}/history", collection_history),
    Route("/api/collections/{name:path}/documents", collection_documents),
    Route("/api/collections/{name:path}/explain", collection_explain),
    Route("/api/collections/{name:path}", collection),
    Route("/api/runs/{run_id}", run),
    Route("/api/outbox", outbox),
    Route("/api/health", health),
    Route("/api/events", events),
]
