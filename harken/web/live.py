"""Live updates: ``GET /events`` is a server-sent event stream of queue changes (new items are
their ``created`` events; claims, transfers, closings... theirs). The pages' script listens
and refreshes what changed in place: the inbox's rows and count, an item's history.

The stream polls the store (one indexed query a second), so every replica of the web and
every writer (the CLI, Slack, workers, another web) is seen alike, without a message bus. On
PostgreSQL an event id can become visible after a higher one, so each poll looks back a
little and skips ids already sent. A stream ends after ``STREAM_FOR`` and the browser
reconnects (EventSource does so by itself), so a dead connection never lingers long.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from harken.queue.accounts import session_for
from harken.queue.views import events_after, last_event_id
from harken.web.session import COOKIE, Session

router = APIRouter()
POLL_S = 1.0
HEARTBEAT_S = 15.0
STREAM_FOR_S = 300.0
LOOK_BACK = 50  # ids re-read each poll (PostgreSQL commits them out of order)
SESSION_CHECK_S = 30.0


@router.get("/events")
async def events(request: Request, session: Session) -> StreamingResponse:
    store = request.app.state.store
    given = request.headers.get("last-event-id") or request.query_params.get("after") or ""
    if given.isascii() and given.isdigit() and len(given) < 19:
        start = int(given)
    else:
        start = await run_in_threadpool(last_event_id, store)
    return StreamingResponse(
        _stream(request, start, request.cookies.get(COOKIE, "")),
        media_type="text/event-stream",
        headers={"x-accel-buffering": "no"},  # nginx: pass each event on at once
    )


async def _stream(request: Request, after: int, key: str) -> AsyncIterator[str]:
    store, start = request.app.state.store, after
    checked = time.monotonic()
    sent: deque[int] = deque(maxlen=LOOK_BACK * 4)
    yield f"retry: 2000\nid: {after}\n\n"
    started = last_beat = time.monotonic()
    while time.monotonic() - started < STREAM_FOR_S:
        if await request.is_disconnected():
            return
        if time.monotonic() - checked > SESSION_CHECK_S:  # signed out, or the password changed
            if await run_in_threadpool(session_for, store, key) is None:
                return
            checked = time.monotonic()
        found = await run_in_threadpool(events_after, store, max(0, after - LOOK_BACK))
        fresh = [e for e in found if e["id"] > start and e["id"] not in sent]
        if fresh:
            sent.extend(e["id"] for e in fresh)
            after = max(after, *(e["id"] for e in fresh))
            yield f"id: {after}\nevent: queue\ndata: {json.dumps(fresh)}\n\n"
        elif time.monotonic() - last_beat > HEARTBEAT_S:
            last_beat = time.monotonic()
            yield ": still here\n\n"
        await asyncio.sleep(POLL_S)
