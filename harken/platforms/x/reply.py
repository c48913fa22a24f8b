"""Replies on X: ``tweepy.Client.create_tweet(text, in_reply_to_tweet_id)`` in OAuth 1.0a user
context (``consumer_key``, ``consumer_secret``, ``access_token``, ``access_token_secret``): the
listener's bearer token is app-only and cannot post. A retweet is answered on the tweet it
retweets, as X's own reply button does.

tweepy runs without ``wait_on_rate_limit``: it would sleep, then post again.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import regex  # \X: grapheme clusters, as twitter-text counts emoji (installed with transformers)
import requests
from pydantic import field_validator

from harken.errors import ReplyError
from harken.platforms.reply import (
    CHECK_THREAD,
    LINK,
    LINK_LENGTH,
    Account,
    ReplyClient,
    ReplyTarget,
    SentReply,
    attempt,
    gone,
    lost,
    rate_limited,
    secret_value,
    server_error,
)
from harken.platforms.source import SourceSettings, parse_reset

_PICTOGRAPH = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")
_X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))  # twitter-text: weight 1


@functools.cache
def _x_posting_settings() -> type[SourceSettings]:
    from harken.platforms.x.source import XSettings

    class XPostingSettings(XSettings):
        """XSettings less the bearer token, which only listening needs."""

        @field_validator("bearer_token")
        @classmethod
        def _token_given(cls, value: str | None) -> Any:  # replaces XSettings' check
            return value

    return XPostingSettings


class XReply(ReplyClient):
    name, label = "x", "X"
    max_length = 280
    needs = "OAuth 1.0a user credentials (the app-only bearer token cannot post)"
    counting = "as X counts them (a link 23, CJK characters and emoji 2)"
    credentials: ClassVar[dict[str, str | None]] = {
        "consumer_key": "X_CONSUMER_KEY",
        "consumer_secret": "X_CONSUMER_SECRET",
        "access_token": "X_ACCESS_TOKEN",
        "access_token_secret": "X_ACCESS_TOKEN_SECRET",
    }

    def settings_class(self) -> type[SourceSettings]:
        return _x_posting_settings()

    def length(self, target: ReplyTarget, text: str) -> int:
        text = unicodedata.normalize("NFC", text)
        links = len(LINK.findall(text))
        return _x_weight(LINK.sub("", text)) + links * LINK_LENGTH

    def target_problems(self, target: ReplyTarget) -> list[str]:
        if x_tweet_id(target).isdigit():
            return []
        return [f"X: {x_tweet_id(target)!r} is not a tweet id"]

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        import tweepy

        from harken.platforms.x.source import point_at

        s = account.settings
        client = tweepy.Client(
            consumer_key=secret_value(s.consumer_key),
            consumer_secret=secret_value(s.consumer_secret),
            access_token=secret_value(s.access_token),
            access_token_secret=secret_value(s.access_token_secret),
            return_type=dict,
            wait_on_rate_limit=False,  # it would sleep, then post again
        )
        point_at(client, s.api_base_url, timeout)
        explain = functools.partial(self.explain, account)
        try:
            body = attempt(
                lambda: client.create_tweet(text=text, in_reply_to_tweet_id=x_tweet_id(target)),
                explain,
                posting=True,
                label="X",
            )
        finally:
            client.session.close()
        data = body.get("data") if isinstance(body, dict) else None
        new_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(new_id, str) or not new_id:
            raise ReplyError(
                "X answered without the new post's id; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=True,
            )
        return SentReply(new_id, f"https://x.com/i/status/{new_id}")

    def explain(self, account: Account, exc: Exception, posting: bool) -> ReplyError | None:
        import tweepy

        if isinstance(exc, tweepy.TooManyRequests):
            return rate_limited("X", _x_reset(exc.response.headers), "HTTP 429")
        if isinstance(exc, tweepy.TwitterServerError):
            return server_error("X", exc.response.status_code, posting)
        if isinstance(exc, tweepy.HTTPException):
            return self._refused(account, exc)
        if isinstance(exc, requests.RequestException):
            return lost("X", exc, posting)
        if isinstance(exc, ValueError):  # requests' JSONDecodeError: a garbled answer
            return ReplyError(
                "X: the answer is not valid JSON; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=posting,
            )
        return None

    def _refused(self, account: Account, exc: Any) -> ReplyError:
        status = exc.response.status_code
        messages = "; ".join(exc.api_messages or [str(e) for e in exc.api_errors])[:300]
        detail = messages or exc.response.reason or "error"
        if status == 401:
            keys = ", ".join(account.key(k) for k in self.credentials)
            return ReplyError(
                f"X refused the credentials (HTTP 401: {detail}); nothing was posted",
                hint=f"check {keys}; harken doctor",
            )
        if status == 404 or "deleted or not visible" in detail.lower():
            return gone("X", f"HTTP {status}")
        if status == 403 and "duplicate" in detail.lower():
            return ReplyError(
                f"X refused the reply (HTTP 403: {detail})", hint="X refuses the same text twice"
            )
        if status == 403:
            return ReplyError(
                f"X refused the reply (HTTP 403: {detail}); nothing was posted",
                hint="the X app needs Read and Write permission (regenerate the access token "
                "after changing it), and the author may limit who can reply",
            )
        return ReplyError(f"X rejected the reply (HTTP {status}: {detail}); nothing was posted")


def x_tweet_id(target: ReplyTarget) -> str:
    """The tweet to answer: a retweet's original (X's reply button does the same)."""
    for ref in target.raw.get("referenced_tweets") or []:
        if (
            isinstance(ref, dict)
            and ref.get("type") == "retweeted"
            and isinstance(ref.get("id"), str)
        ):
            return str(ref["id"])
    return target.external_id


def _x_weight(text: str) -> int:
    """twitter-text's weighted length: Latin and common punctuation 1, the rest 2, and an emoji
    (however many code points) 2."""
    total = 0
    for cluster in regex.findall(r"\X", text):
        if len(cluster) > 1 and _PICTOGRAPH.search(cluster):
            total += 2
        else:
            total += sum(1 if _x_light(ord(c)) else 2 for c in cluster)
    return total


def _x_light(code: int) -> bool:
    return any(low <= code <= high for low, high in _X_LIGHT)


def _x_reset(headers: Mapping[str, str]) -> datetime | None:
    """The reset of whichever limit is spent: the 15-minute window, or the 24-hour user or app
    posting limits."""
    now = datetime.now(UTC)
    spent = [
        parse_reset(headers.get(f"{prefix}-reset"), now)
        for prefix in ("x-user-limit-24hour", "x-app-limit-24hour", "x-rate-limit")
        if headers.get(f"{prefix}-remaining") == "0"
    ]
    known = [t for t in spent if t is not None]
    return max(known) if known else parse_reset(headers.get("x-rate-limit-reset"), now)
