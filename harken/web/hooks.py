"""``/hooks/meta``: Meta's webhook deliveries for the Facebook and Instagram sources that have
``webhook_verify_token`` (harken.platforms.meta.hooks checks and reads them; here they are
stored, as a poll's posts are). No sign-in: each delivery is signed with the app's secret.

Answers: 200 with what was stored (and what was skipped); 401 unsigned (or signed with
another secret); 400 not JSON; 413 too large; 503 part of it could not be read for now (what
was read is stored; Meta sends the delivery again); 500 the store failed (Meta sends it again);
404 when no source takes webhooks. The subscription check answers 403 for a wrong verify token.
Refusals are logged at INFO only: anyone can send them.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from harken.pipeline.ingest import ingest
from harken.platforms.meta.hooks import MAX_DELIVERY, HookRefused, MetaHooks
from harken.store import repo

log = logging.getLogger(__name__)
router = APIRouter()
PATH = "/hooks/meta"


def _hooks(request: Request) -> MetaHooks | None:
    hooks: MetaHooks | None = request.app.state.meta_hooks
    return hooks


def _off() -> JSONResponse:
    return JSONResponse(
        {
            "error": "no source takes Meta webhooks",
            "hint": "set webhook_verify_token and app_secret under sources.facebook or "
            "sources.instagram",
        },
        status_code=404,
    )


@router.get(PATH)
def subscribe(request: Request) -> Response:
    hooks = _hooks(request)
    if hooks is None:
        return _off()
    query = request.query_params
    try:
        challenge = hooks.challenge(
            query.get("hub.mode"), query.get("hub.verify_token"), query.get("hub.challenge")
        )
    except HookRefused as err:
        return JSONResponse({"error": str(err)}, status_code=err.status)
    return PlainTextResponse(challenge)


@router.post(PATH)
async def deliver(request: Request) -> Response:
    hooks = _hooks(request)
    if hooks is None:
        return _off()
    too_large = JSONResponse({"error": f"a delivery over {MAX_DELIVERY} bytes"}, 413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DELIVERY:
        return too_large
    body = bytearray()
    async for chunk in request.stream():  # read no further than the limit
        body += chunk
        if len(body) > MAX_DELIVERY:
            return too_large
    signature = request.headers.get("x-hub-signature-256")
    try:
        stored, retry = await run_in_threadpool(_receive, request, hooks, bytes(body), signature)
    except HookRefused as err:
        log.info("meta webhook refused: %s", err)
        return JSONResponse({"error": str(err)}, status_code=err.status)
    if retry is not None:
        return JSONResponse({**stored, "error": f"not all read now ({retry}); send it again"}, 503)
    return JSONResponse(stored)


def _receive(
    request: Request, hooks: MetaHooks, body: bytes, signature: str | None
) -> tuple[dict[str, int], str | None]:
    config, store = request.app.state.config, request.app.state.store

    def stored(platform: str, external_id: str) -> bool:
        with store.session() as session:
            return repo.mention_id(session, platform, external_id) is not None

    delivered = hooks.receive(body, signature, stored)
    stored = duplicates = 0
    skipped = len(delivered.skipped)
    if delivered.records:
        result = ingest(store, config, delivered.records, delivered.source)
        stored, duplicates = result.stored, result.duplicates
        skipped += len(result.refused) + result.off_brand + result.own_posts
    log.info(
        "%s: webhook: %d stored, %d already stored, %d skipped",
        delivered.source or "meta", stored, duplicates, skipped,
    )  # fmt: skip
    return {"stored": stored, "duplicates": duplicates, "skipped": skipped}, delivered.retry
