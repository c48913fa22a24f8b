"""Answering a post from the web: the reply page shows what would be posted where (the
template for the post's topic, filled in; ``harken queue reply``'s dry run), lets the person
edit it and check it again, approve it (``replies.approval``: someone other than the sender
must), and send it through the platform's client with the queue's attempt rules: written
before the platform is called, never sent twice for one form (its one-time key is the
request key), refused while another reply is in flight.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from harken.config import Config
from harken.errors import HarkenError
from harken.queue.accounts import SignedIn
from harken.queue.actions import approve_reply, approved_by, send_planned_reply
from harken.queue.people import department_permission
from harken.queue.replies import ReplyPlan, may_reply, plan_reply
from harken.web.pages import checked_form
from harken.web.render import page
from harken.web.session import Id, Session, status_of, web_actor

router = APIRouter()
MAX_REPLY = 10_000
STEPS = ("check", "approve", "send")


@router.get("/items/{item_id}/reply")
def reply_page(
    request: Request, item_id: Id, session: Session, template: str | None = None
) -> Response:
    config, store = request.app.state.config, request.app.state.store
    try:
        may_reply(store, item_id, web_actor(session.account), department_permission(config, store))
        plan = plan_reply(store, config, item_id, None, template or None)
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    return _page(request, config, plan, None, None, 200)


@router.post("/items/{item_id}/reply")
async def reply_step(request: Request, item_id: Id, session: Session) -> Response:
    form = await checked_form(request, session)
    # Sending calls the platform: off the event loop.
    return await run_in_threadpool(_step, request, session, item_id, form)


def _step(request: Request, session: SignedIn, item_id: int, form: Any) -> Response:
    config, store = request.app.state.config, request.app.state.store
    step, key = str(form.get("step", "check")), str(form.get("request_key", ""))[:64]
    text = str(form.get("text", "")).replace("\r\n", "\n").strip()[:MAX_REPLY]
    actor, may = web_actor(session.account), department_permission(config, store)
    try:
        may_reply(store, item_id, actor, may)  # checking is for who may send it too
        plan = plan_reply(store, config, item_id, text, None)
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    # A form's one-time key, for this person and this item only.
    request_key = f"{session.account.id}:{item_id}:{key}" if key else None
    try:
        if step == "approve":
            change = approve_reply(
                store, plan, actor, may=may, request_key=_key("approve", request_key)
            )
            return _page(request, config, plan, change.message, None, 200)
        if step == "send":
            send_planned_reply(
                store, config, plan, actor,
                require_approval=config.replies.approval, may=may,
                request_key=_key("reply", request_key),
            )  # fmt: skip
            return RedirectResponse(f"/items/{item_id}", status_code=303)
    except HarkenError as err:
        return _page(request, config, plan, None, str(err), status_of(err))
    return _page(request, config, plan, None, None, 200)  # check: the plan again


def _key(step: str, key: str | None) -> str | None:
    return f"web-{step}:{key}" if key else None


def _page(
    request: Request,
    config: Config,
    plan: ReplyPlan,
    said: str | None,
    error: str | None,
    status: int,
) -> Response:
    return page(
        request,
        "reply.html",
        status,
        plan=plan,
        said=said,
        error=error,
        approval=config.replies.approval,
        approvers=approved_by(request.app.state.store, plan.item_id, plan.text),
        templates=list(config.replies.templates),
        request_key=secrets.token_urlsafe(16),
    )
