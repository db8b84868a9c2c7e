"""``GET /api/events[?collection=][&after=N]``: the outbox's events as Server-Sent Events.

Each event is the object the relay publishes to the Redis Stream, sent as ``data:`` with
``id:`` its position (outbox id). A client that comes back with ``Last-Event-ID`` (or
``after``, for a page that knows the position it was rendered at) first gets the events it
missed, read once from the database, then the live ones from the process's one reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fileintel.db import read_tx
from fileintel.store.collections import find_collection
from fileintel.store.event_tail import events_between
from fileintel.web.fanout import EventFanout, Subscription
from fileintel.web.frames import Frame, frame_of
from fileintel.web.params import position_param

#: A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0
#: How long a browser waits before reconnecting (the SSE ``retry:`` field).
RETRY_MILLISECONDS = 2000


async def events(request: Request) -> Response:
    """The live event stream, optionally of one collection."""
    fanout: EventFanout = request.app.state.fanout
    after = position_param(request.headers.get("last-event-id"), "Last-Event-ID")
    if after is None:
        after = position_param(request.query_params.get("after"), "after")
    collection_id = None
    wanted = request.query_params.get("collection")
    if wanted is not None:
        collection_id = await run_in_threadpool(_collection_id, request, wanted)
    sub = fanout.subscribe(collection_id)
    return StreamingResponse(
        _stream(request, fanout, sub, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _collection_id(request: Request, name_or_id: str) -> str:
    with read_tx(request.app.state.engine) as conn:
        return str(find_collection(conn, name_or_id).id)


async def _stream(
    request: Request, fanout: EventFanout, sub: Subscription, after: int | None
) -> AsyncIterator[str]:
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        if after is not None and after < sub.start:
            missed = await run_in_threadpool(_missed, request, after, sub)
            if missed:
                yield "".join(f.text for f in missed)
        floor = sub.start if after is None else max(after, sub.start)
        while True:
            try:
                batch = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if batch is None:  # the server stops, or this client fell too far behind
                return
            # One write per batch: a pass's events leave together.
            text = "".join(f.text for f in batch if f.position > floor)
            if text:
                yield text
    finally:
        fanout.unsubscribe(sub)


def _missed(request: Request, after: int, sub: Subscription) -> list[Frame]:
    with read_tx(request.app.state.engine) as conn:
        return [frame_of(e) for e in events_between(conn, after, sub.start, sub.collection_id)]
