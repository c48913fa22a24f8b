"""What every reply client shares: the reply's target and result, the account that posts it,
the ``ReplyClient`` contract each ``platforms/<name>/reply.py`` implements, and the attempt
rules that turn a client library's failures into ``ReplyError``.

The rules, for every platform: nothing is retried (a retried POST can post twice), so the
clients neither sleep nor retry. Every failure is a ``ReplyError`` saying what happened and
what to do. ``maybe_posted`` is True when the posting request went out and its answer was lost
or bad (timeout, dropped connection, 5xx, unreadable answer): look at the thread before sending
again. Logins and lookups run before the post, so when they fail nothing was sent.

``harken.platforms.replies`` finds the account and calls the client; this module knows no
platform.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import httpx
import regex  # \X: grapheme clusters, as Bluesky and Mastodon count (installed with transformers)
import requests
import urllib3
from pydantic import SecretStr

from harken.config import BrandConfig
from harken.errors import ReplyError
from harken.platforms.source import SourceSettings

T = TypeVar("T")

LINK_LENGTH = 23  # what a link counts on X and Mastodon, however long it is
CHECK_THREAD = "look at the thread before sending it again: a second send could post it twice"

LINK = re.compile(r"(?i)\bhttps?://[^\s<>\"]+")
# Failures that prove the request never reached the server: no connection was made.
_NOT_CONNECTED = (
    requests.ConnectTimeout,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    ConnectionRefusedError,
)


@dataclass(frozen=True)
class ReplyTarget:
    platform: str  # a registered platform (platforms/registry.py); some cannot be answered
    external_id: str  # the stored mention's external_id
    url: str | None
    author_handle: str
    conversation_id: str | None
    raw: Mapping[str, Any]  # the stored mention's raw payload (Mention.raw)


@dataclass(frozen=True)
class SentReply:
    external_id: str  # the new post's id on the platform, as harken stores mentions there
    url: str | None


@dataclass(frozen=True)
class Account:
    """The source entry whose credentials post a platform's replies."""

    source: str  # its name under sources:
    settings: Any  # the platform listener's settings (XSettings, RedditSettings...)
    brands: list[BrandConfig]

    def key(self, name: str) -> str:
        return f"sources.{self.source}.{name}"


def secret_value(value: Any) -> str | None:
    """A setting's value as a plain string (a ``SecretStr`` unwrapped), None when unset."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value if isinstance(value, str) and value else None


# -- the contract ---------------------------------------------------------------------------------


class ReplyClient:
    """How one platform answers a mention: its length rule, its target checks and its post."""

    name: ClassVar[str]  # the platform, as the registry names it
    label: ClassVar[str]
    needs: ClassVar[str]  # what posting needs, in words
    counting: ClassVar[str]  # how the platform counts length, in words
    max_length: ClassVar[int]  # the longest reply, counted as ``length`` counts
    credentials: ClassVar[dict[str, str | None]]  # settings key -> the ${VAR} to suggest

    def settings_class(self) -> type[SourceSettings]:
        raise NotImplementedError

    def length(self, target: ReplyTarget, text: str) -> int:
        raise NotImplementedError

    def target_problems(self, target: ReplyTarget) -> list[str]:
        return []

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        raise NotImplementedError

    def text_problems(self, target: ReplyTarget, text: str) -> list[str]:
        length, limit = self.length(target, text), self.max_length
        if length <= limit:
            return []
        return [f"the reply is {length} characters {self.counting}; {self.label} allows {limit}"]


# -- the attempt rules ----------------------------------------------------------------------------

Explain = Callable[[Exception, bool], ReplyError | None]


def attempt(fn: Callable[[], T], explain: Explain, posting: bool, label: str) -> T:
    """``fn()``, its library's errors explained. ``posting``: this call sends the reply."""
    try:
        return fn()
    except ReplyError:
        raise
    except Exception as exc:
        err = explain(exc, posting)
        if err is None and not posting:
            raise
        if err is None:  # a library error nobody foresaw, after the reply went out
            err = ReplyError(
                f"{label}: {type(exc).__name__} while posting; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=True,
            )
        raise err from None


def never_left(exc: BaseException | None) -> bool:
    """True when the request provably never reached the server (no connection was made)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        reason = getattr(exc.args[0], "reason", None) if exc.args else None  # MaxRetryError
        if isinstance(exc, _NOT_CONNECTED) or isinstance(reason, _NOT_CONNECTED):
            return True
        exc = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
    return False


def lost(label: str, exc: Exception, posting: bool) -> ReplyError:
    """A timeout or a dropped connection: after the reply went out, it may be posted."""
    what = type(exc).__name__
    if posting and not never_left(exc):
        return ReplyError(
            f"{label}: no answer to the reply ({what}); it may have been posted",
            hint=CHECK_THREAD,
            maybe_posted=True,
        )
    return ReplyError(f"{label}: cannot reach the server ({what}); nothing was posted")


def server_error(label: str, status: int | None, posting: bool) -> ReplyError:
    if posting:
        return ReplyError(
            f"{label}: HTTP {status} from the server while posting; it may have been posted",
            hint=CHECK_THREAD,
            maybe_posted=True,
        )
    return ReplyError(
        f"{label}: HTTP {status} from the server; nothing was posted", hint="try again later"
    )


def rate_limited(label: str, reset_at: datetime | None, detail: str = "") -> ReplyError:
    if reset_at is None:
        when = f"{label} did not say when the limit resets"
    else:
        minutes = max(0, -(-int((reset_at - datetime.now(UTC)).total_seconds()) // 60))
        when = f"the limit resets at {reset_at:%Y-%m-%d %H:%M} UTC (in {minutes} min)"
    detail = f" ({detail})" if detail else ""
    return ReplyError(
        f"{label}: rate limited{detail}; nothing was posted; {when}",
        hint="send it again after the reset",
    )


def gone(label: str, detail: str = "") -> ReplyError:
    detail = f" ({detail})" if detail else ""
    return ReplyError(
        f"{label}: the post being answered no longer exists or cannot be seen{detail}; "
        "nothing was posted",
        hint="dismiss the item, or answer the author elsewhere",
    )


# -- counting -------------------------------------------------------------------------------------


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def with_links_as(text: str, length: int) -> str:
    return LINK.sub("x" * length, text)
