"""Who is asking: a browser's session cookie (pages) or a bearer token (the API), and how a
library error becomes an HTTP status.

The cookie holds a random key; the store keeps only its SHA-256 (``harken.queue.accounts``).
Signing in always starts a new session, so a key planted in a browser before sign-in never
becomes a signed-in one (session fixation).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request

from harken.errors import (
    AccountError,
    ConfigError,
    HarkenError,
    InputError,
    ItemNotFound,
    QueueError,
    ReplyError,
)
from harken.queue.accounts import (
    SESSION_FOR,
    Account,
    SignedIn,
    account_for_token,
    session_for,
)
from harken.queue.actors import Actor, QueuePermissionError
from harken.web.query import MAX_ID

COOKIE = "harken_session"
LOGIN_COOKIE = "harken_login"  # the sign-in form's CSRF token, before there is a session


class SignInNeeded(Exception):
    """A page was asked for without a live session: the answer is the sign-in page."""


class NoToken(Exception):
    """An API call without a valid bearer token: 401."""


def signed_in(request: Request) -> SignedIn:
    """The session of this request; SignInNeeded when there is none."""
    key = request.cookies.get(COOKIE, "")
    found = session_for(request.app.state.store, key) if key else None
    if found is None:
        raise SignInNeeded()
    request.state.signed_in = found
    return found


def api_caller(request: Request) -> Account:
    """The account whose token this request carries (``Authorization: Bearer hk_...``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    account = (
        account_for_token(request.app.state.store, token.strip())
        if scheme.lower() == "bearer"
        else None
    )
    if account is None:
        raise NoToken()
    return account


# What a route declares to need a session or a token (FastAPI's dependencies).
Session = Annotated[SignedIn, Depends(signed_in)]
Caller = Annotated[Account, Depends(api_caller)]
# A row id in a path: what the databases can hold (a bigger one is 422, never a crash).
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def local_path(target: str) -> str:
    """Only a path of this site to go to (after signing in, back to the inbox): never
    //evil.example, a scheme, a backslash or a control character a browser would drop."""
    try:
        parts = urlsplit(target)
    except ValueError:  # "[" in what would be a host
        return "/inbox"
    if (
        not target.startswith("/")
        or target.startswith("//")
        or parts.scheme
        or parts.netloc
        or any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in target)
    ):
        return "/inbox"
    return target[:2000]


def web_actor(account: Account) -> Actor:
    return Actor(account.name, via="web")


def api_actor(account: Account) -> Actor:
    return Actor(account.name, via="api")


def status_of(err: HarkenError) -> int:
    """403 refused, 404 no such item, 422 a wrong value, 409 the item's state says no, 502 the
    platform would not take a reply."""
    if isinstance(err, QueuePermissionError | AccountError):
        return 403
    if isinstance(err, ItemNotFound):
        return 404
    if isinstance(err, InputError | ConfigError):
        return 422
    if isinstance(err, QueueError):
        return 409
    if isinstance(err, ReplyError):  # the platform refused or did not answer
        return 502
    return 500


def cookie_options(request: Request) -> dict[str, object]:
    """HttpOnly, SameSite=Lax, Secure when served over TLS (behind a proxy: uvicorn's
    --proxy-headers makes the scheme the proxy's)."""
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": request.url.scheme == "https",
        "path": "/",
        "max_age": int(SESSION_FOR.total_seconds()),
    }
