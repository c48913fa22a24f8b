"""The pages: sign-in, the inbox, one item with its actions, bulk actions.

Reading needs a session; every POST also needs the session's CSRF token (the sign-in form:
the token of the cookie set with the form). An action that works answers 303 to the item
(or the inbox), so a reload never repeats it; one that cannot be done shows the page again
with the reason and the status the API would give (403, 404, 409, 422).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from harken.config import Config
from harken.config.schema import PLATFORM_NAMES
from harken.errors import AccountError, HarkenError, InputError
from harken.queue.accounts import SignedIn, end_session, sign_in, start_session
from harken.queue.actions import DISMISS_REASONS
from harken.queue.items import STATUSES
from harken.queue.people import refusal
from harken.queue.saved_views import MAX_QUERY, delete_view, save_view, views_for
from harken.queue.views import count_items, list_items, show_item
from harken.store import Store
from harken.store.repo import PRIORITY_ORDER
from harken.web.actions import ACTIONS, BULK, perform
from harken.web.query import page_of, query_without
from harken.web.render import page
from harken.web.security import same_token
from harken.web.session import (
    COOKIE,
    LOGIN_COOKIE,
    Id,
    Session,
    cookie_options,
    local_path,
    status_of,
    web_actor,
)

log = logging.getLogger(__name__)
router = APIRouter()
MAX_BULK = 200


def _config(request: Request) -> Config:
    config: Config = request.app.state.config
    return config


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def checked_form(request: Request, session: SignedIn) -> Any:
    """The posted form, once its CSRF token is the session's; else 403."""
    form = await request.form()
    if not same_token(str(form.get("csrf_token", "")), session.csrf_token):
        raise AccountError("the form is out of date or not from harken", hint="reload the page")
    return form


# -- signing in and out -----------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/inbox") -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        login_token=token,
        next=local_path(next),
        error=None,
        sso=_config(request).web.sso,
    )
    response.set_cookie(LOGIN_COOKIE, token, **{**cookie_options(request), "max_age": 3600})
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    # argon2 and the store take time: off the event loop, so one sign-in never stalls others.
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: Any) -> Response:
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    wanted = local_path(str(form.get("next", "/inbox")))
    client = request.client.host if request.client else "unknown"
    limit = request.app.state.sign_in_limit
    if not same_token(str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE, "")):
        return _login_again(request, "the sign-in form is out of date: try again", 403, wanted)
    if wait := limit.retry_after(client):
        response = _login_again(request, f"too many failed sign-ins: wait {wait} s", 429, wanted)
        response.headers["retry-after"] = str(wait)
        return response
    try:
        account = sign_in(_store(request), name, password)
    except AccountError as err:
        limit.failed(client)
        # Not the name typed: people type their password there by mistake.
        log.info("web sign-in refused from %s", client)
        return _login_again(request, str(err), 401, wanted)
    # A new session every time: whatever key the browser held before is ended, never reused.
    if old := request.cookies.get(COOKIE):
        end_session(_store(request), old)
    key, _csrf = start_session(_store(request), account)
    log.info("web sign-in: %s from %s", account.name, client)
    response = RedirectResponse(wanted, status_code=303)
    response.set_cookie(COOKIE, key, **cookie_options(request))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def _login_again(request: Request, error: str, status: int, wanted: str) -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        status,
        login_token=token,
        next=wanted,
        error=error,
        sso=_config(request).web.sso,
    )
    response.set_cookie(LOGIN_COOKIE, token, **{**cookie_options(request), "max_age": 3600})
    return response


@router.post("/logout")
async def logout(request: Request, session: Session) -> Response:
    await checked_form(request, session)
    await run_in_threadpool(end_session, _store(request), request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- the inbox --------------------------------------------------------------------------------


@router.get("/")
def home() -> Response:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox")
def inbox(request: Request, session: Session) -> Response:
    config, store = _config(request), _store(request)
    try:
        chosen = page_of(config, store, request.query_params)
    except HarkenError as err:
        return _inbox_page(request, [], 0, None, str(err), status_of(err))
    items = list_items(store, None, None, chosen.limit, where=chosen.where, offset=chosen.offset)
    total = count_items(store, chosen.where)
    return _inbox_page(request, items, total, chosen, None, 200)


def _inbox_page(
    request: Request,
    items: list[dict[str, Any]],
    total: int,
    chosen: Any,
    error: str | None,
    status: int,
) -> Response:
    config = _config(request)
    params = request.query_params
    pager = query_without(params, "offset")
    return page(
        request,
        "inbox.html",
        status,
        items=items,
        total=total,
        chosen=chosen,
        error=error,
        params=params,
        pager=("?" + pager + "&") if pager else "?",
        choices={
            "department": [d.name for d in config.departments],
            "status": list(STATUSES),
            "priority": list(PRIORITY_ORDER),
            "platform": list(PLATFORM_NAMES),
            "brand": [b.name for b in config.brands],
            "topic": sorted(config.topics),
        },
        bulk=BULK,
        reasons=DISMISS_REASONS,
        here=str(request.url.path) + ("?" + str(params) if params else ""),
        views=views_for(_store(request), request.state.signed_in.account),
        view_query=query_without(params, "offset", "lang"),
    )


@router.post("/views")
async def save(request: Request, session: Session) -> Response:
    """Name the inbox's current filters (checked as the inbox checks them)."""
    form = await checked_form(request, session)
    return await run_in_threadpool(_save, request, session, form)


def _save(request: Request, session: SignedIn, form: Any) -> Response:
    query = str(form.get("query", ""))
    try:
        if len(query) > MAX_QUERY or not query.isprintable():
            raise InputError(f"a view's filters are at most {MAX_QUERY} printable characters")
        page_of(_config(request), _store(request), QueryParams(query))
        save_view(
            _store(request), session.account, str(form.get("name", "")), query,
            shared=form.get("shared") == "1",
        )  # fmt: skip
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    return RedirectResponse("/inbox" + (f"?{query}" if query else ""), status_code=303)


@router.post("/views/{view_id}/delete")
async def unsave(request: Request, view_id: Id, session: Session) -> Response:
    await checked_form(request, session)
    try:
        await run_in_threadpool(delete_view, _store(request), session.account, view_id)
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    return RedirectResponse("/inbox", status_code=303)


@router.post("/items/bulk")
async def bulk(request: Request, session: Session) -> Response:
    """One action on every selected item; each is done or refused on its own."""
    form = await checked_form(request, session)
    return await run_in_threadpool(_bulk, request, session, form)


def _bulk(request: Request, session: SignedIn, form: Any) -> Response:
    action = str(form.get("action", ""))
    given = [str(i) for i in form.getlist("ids")]
    ids = list(dict.fromkeys(int(i) for i in given if i.isascii() and i.isdigit() and len(i) < 19))
    given_note = {"reason": form.get("reason"), "note": form.get("note")}
    outcomes: list[tuple[int, str, bool]] = []
    if action not in BULK:
        outcomes.append((0, f"unknown bulk action {action[:40]!r}", False))
    for item_id in ids[:MAX_BULK] if action in BULK else []:
        try:
            change = perform(
                _config(request), _store(request), web_actor(session.account), item_id,
                action, given_note,
            )  # fmt: skip
            outcomes.append((item_id, change.message, True))
        except HarkenError as err:
            outcomes.append((item_id, str(err), False))
    if len(ids) > MAX_BULK:
        outcomes += [
            (i, f"not done: at most {MAX_BULK} items at once", False) for i in ids[MAX_BULK:]
        ]
    if not ids:
        outcomes.append((0, "no items were selected", False))
    back = local_path(str(form.get("back", "/inbox")))
    return page(request, "bulk.html", outcomes=outcomes, action=action, back=back)


# -- one item ---------------------------------------------------------------------------------


@router.get("/items/{item_id}")
def item_page(request: Request, item_id: Id, session: Session) -> Response:
    return _item_page(request, session, item_id, None, 200)


def _item_page(
    request: Request, session: SignedIn, item_id: int, error: str | None, status: int
) -> Response:
    config = _config(request)
    try:
        item = show_item(_store(request), item_id)
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    actor = web_actor(session.account)
    return page(
        request,
        "item.html",
        status,
        item=item,
        error=error,
        # The permission hook's own rule (roles, departments[].may_act): the buttons shown
        # are the actions that will work.
        may_act=refusal(config, _store(request), actor, item["department"]) is None,
        departments=[d.name for d in config.departments if d.name != item["department"]],
        reasons=DISMISS_REASONS,
    )


@router.post("/items/{item_id}/{action}")
async def item_action(request: Request, item_id: Id, action: str, session: Session) -> Response:
    form = await checked_form(request, session)
    return await run_in_threadpool(_item_action, request, session, item_id, action, form)


def _item_action(
    request: Request, session: SignedIn, item_id: int, action: str, form: Any
) -> Response:
    if action not in ACTIONS:
        return _item_page(request, session, item_id, f"unknown action {action[:40]!r}", 404)
    given = {name: form.get(name) for name, _ in ACTIONS[action]}
    try:
        perform(
            _config(request), _store(request), web_actor(session.account), item_id, action, given
        )
    except HarkenError as err:
        return _item_page(request, session, item_id, str(err), status_of(err))
    return RedirectResponse(f"/items/{item_id}", status_code=303)
