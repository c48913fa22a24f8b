"""``/api/v1``: the queue for other programs, with a bearer token from ``harken users token``.

    GET  /api/v1/items                  the fields of ``queue list --format json``; the inbox's
                                        filters as query parameters; X-Total-Count says how
                                        many match
    GET  /api/v1/items/{id}             the fields of ``queue show --format json``
    POST /api/v1/items/{id}/{action}    claim, assign, transfer, resolve, dismiss, reopen, note,
                                        tag; a JSON body with the action's fields
                                        ({"department": "billing"}, {"text": "..."}...)

401 without a valid token, 403 when the caller may not act on the item (or is a viewer),
404 for an unknown item, 409 when the item's state does not allow the action, 422 for a
wrong value. An ``Idempotency-Key`` header makes a retried claim, transfer, resolve, dismiss
or reopen harmless: the same key again does nothing and answers what the first did.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from harken.errors import HarkenError, QueueInputError
from harken.queue.accounts import Account, digest
from harken.queue.views import count_items, list_items, show_item
from harken.web.actions import ACTIONS, perform
from harken.web.query import page_of
from harken.web.session import Caller, Id, api_actor, status_of

router = APIRouter(prefix="/api/v1")
MAX_BODY = 64 * 1024
MAX_KEY = 200


def error(err: HarkenError) -> JSONResponse:
    body = {"error": str(err.args[0]) if err.args else str(err), "hint": err.hint}
    return JSONResponse(body, status_code=status_of(err))


@router.get("/items")
def items(request: Request, caller: Caller) -> JSONResponse:
    config, store = request.app.state.config, request.app.state.store
    try:
        chosen = page_of(config, store, request.query_params)
    except HarkenError as err:
        return error(err)
    found = list_items(store, None, None, chosen.limit, where=chosen.where, offset=chosen.offset)
    total = count_items(store, chosen.where)
    return JSONResponse(found, headers={"x-total-count": str(total)})


@router.get("/items/{item_id}")
def item(request: Request, item_id: Id, caller: Caller) -> JSONResponse:
    try:
        return JSONResponse(show_item(request.app.state.store, item_id))
    except HarkenError as err:
        return error(err)


@router.post("/items/{item_id}/{action}")
async def act(request: Request, item_id: Id, action: str, caller: Caller) -> JSONResponse:
    if action not in ACTIONS:
        return JSONResponse(
            {"error": f"no action {action[:40]!r}", "hint": "one of: " + ", ".join(ACTIONS)},
            status_code=404,
        )
    try:
        body = await _body(request)
    except HarkenError as err:
        return error(err)
    return await run_in_threadpool(_act, request, item_id, action, caller, body)


def _act(
    request: Request, item_id: int, action: str, caller: Account, body: dict[str, Any]
) -> JSONResponse:
    config, store = request.app.state.config, request.app.state.store
    key = request.headers.get("idempotency-key")
    try:
        if key is not None and not 0 < len(key) <= MAX_KEY:
            raise QueueInputError(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
        # The key stands for this caller's this action on this item: the same key sent with
        # another request is another request.
        request_key = "api:" + digest(f"{caller.id}:{item_id}:{action}:{key}")[:60] if key else None
        change = perform(config, store, api_actor(caller), item_id, action, body, request_key)
        return JSONResponse(
            {
                "ok": True,
                "message": change.message,
                "repeated": change.repeated,
                "item": show_item(store, item_id),
            }
        )
    except HarkenError as err:
        return error(err)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise QueueInputError(f"the body is over {MAX_BODY // 1024} kB")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise QueueInputError(
            "the body is not JSON", hint='e.g. {"department": "billing"}'
        ) from None
    if not isinstance(body, dict):
        raise QueueInputError("the body must be a JSON object")
    return body
