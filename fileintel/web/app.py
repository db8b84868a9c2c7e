"""The ASGI application: the API and page routes, the event reader's lifetime, errors.

Errors are answered, never shown as a trace: under ``/api`` as ``{"error": "one line"}``
(404 unknown name or id, 400 bad query value, 503 database unavailable, 500 a bug, whose
traceback goes to the server's log with passwords masked), elsewhere as a small page.
Only GET and HEAD exist: no route changes data.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from fileintel.config import Settings, redact
from fileintel.errors import DatabaseError, FileIntelError, InputError, NotFound
from fileintel.web import api, pages
from fileintel.web.fanout import EventFanout
from fileintel.web.security import TokenGuard

log = logging.getLogger("fileintel.web")

STATIC = Path(__file__).with_name("static")


def create_app(settings: Settings, engine: Engine) -> Starlette:
    """The application on ``engine``; the event reader runs while the app is served."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        fanout = EventFanout(engine)
        app.state.fanout = fanout
        fanout.start()
        try:
            yield
        finally:
            fanout.stop()

    app = Starlette(
        routes=[
            *api.ROUTES,
            *pages.ROUTES,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(TokenGuard, token=settings.web_token)],
        exception_handlers={
            FileIntelError: _answer_error,
            HTTPException: _answer_error,
            Exception: _answer_bug,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    return app


def _status_of(error: Exception) -> int:
    if isinstance(error, HTTPException):
        return error.status_code
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, InputError):
        return 400
    if isinstance(error, DatabaseError):
        return 503
    return 500


async def _answer_error(request: Request, error: Exception) -> Response:
    settings: Settings = request.app.state.settings
    status = _status_of(error)
    message = str(error.detail) if isinstance(error, HTTPException) else str(error)
    return _error_response(request, status, redact(message, settings))


async def _answer_bug(request: Request, error: Exception) -> Response:
    settings: Settings = request.app.state.settings
    log.error(
        "%s %s failed: %s",
        request.method,
        request.url.path,
        redact(f"{type(error).__name__}: {error}", settings),
    )
    message = "internal error; the server's log has the details"
    return _error_response(request, 500, message)


def _error_response(request: Request, status: int, message: str) -> Response:
    first_line = message.strip().splitlines()[0] if message.strip() else "error"
    if request.url.path.startswith("/api/"):
        return api.json_response({"error": first_line}, status=status)
    context = {"status_code": status, "message": first_line, "position": None}
    return pages.TEMPLATES.TemplateResponse(request, "error.html", context, status_code=status)
