"""X (Twitter): parse API v2 search response pages.

A payload is one page as the v2 recent-search endpoint returns it: ``data`` (tweets),
``includes.users`` (expanded authors, via ``expansions=author_id``) and ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harken.errors import PayloadError
from harken.platforms.base import (
    AuthorRecord,
    MentionRecord,
    ParseResult,
    Rejection,
    as_int,
    clip,
    dict_or_empty,
    each_item,
    metrics_of,
    parse_time,
    require,
    text_or_none,
)

PLATFORM = "x"
_REFERENCE_KINDS = {"retweeted": "retweet", "quoted": "quote", "replied_to": "reply"}


def parse(payload: Any) -> Iterator[ParseResult]:
    if not isinstance(payload, dict) or not ("data" in payload or "meta" in payload):
        yield Rejection("not an X API v2 response page (expected 'data' and 'meta')")
        return
    tweets = payload.get("data") or []
    if not isinstance(tweets, list):
        yield Rejection("field data is not a list of tweets")
        return
    expanded = dict_or_empty(payload.get("includes")).get("users")
    users = {
        u["id"]: u
        for u in (expanded if isinstance(expanded, list) else [])
        if isinstance(u, dict) and isinstance(u.get("id"), str)
    }
    yield from each_item(tweets, lambda tweet: _tweet(tweet, users))


def _tweet(tweet: Any, users: dict[str, dict[str, Any]]) -> MentionRecord:
    tweet_id = require(tweet, "id", where="tweet")
    author_id = require(tweet, "author_id", where="tweet")
    user = users.get(author_id)
    if user is None:
        raise PayloadError(
            f"tweet {clip(tweet_id)}: author {clip(author_id)} is not in includes.users"
        )
    username = require(user, "username", where="user")
    metrics = dict_or_empty(tweet.get("public_metrics"))
    reference = _reference(tweet)
    # A retweet reports its original's retweet_count: counting it again would double it.
    reposts = None if reference and reference[0] == "retweet" else metrics.get("retweet_count")
    return MentionRecord(
        platform=PLATFORM,
        external_id=tweet_id,
        text=_unescape(require(tweet, "text", where="tweet")),
        created_at=parse_time(require(tweet, "created_at", where="tweet"), "tweet.created_at"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=author_id,
            handle=username,
            name=text_or_none(user.get("name")),
            followers=as_int(dict_or_empty(user.get("public_metrics")).get("followers_count")),
            verified=user.get("verified") is True,
            url=f"https://x.com/{username}",
        ),
        url=f"https://x.com/{username}/status/{tweet_id}",
        language=_language(tweet.get("lang")),
        metrics=metrics_of(
            likes=metrics.get("like_count"),
            reposts=reposts,
            replies=metrics.get("reply_count"),
            quotes=metrics.get("quote_count"),
            impressions=metrics.get("impression_count"),
        ),
        reference=reference,
        conversation_id=text_or_none(tweet.get("conversation_id")),
        raw=tweet,
    )


def _unescape(text: str) -> str:
    """X escapes exactly these three in tweet text; everything else arrives as is."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _language(lang: Any) -> str | None:
    """X's BCP 47 tag; ``und`` (undetermined) is no language."""
    return lang if isinstance(lang, str) and lang not in ("", "und") else None


def _reference(tweet: dict[str, Any]) -> tuple[str, str] | None:
    given = tweet.get("referenced_tweets")
    refs = [r for r in given if isinstance(r, dict)] if isinstance(given, list) else []
    # A retweet is what it retweets; a quote or reply is its own post pointing elsewhere.
    for wanted in ("retweeted", "quoted", "replied_to"):
        for ref in refs:
            if ref.get("type") == wanted and isinstance(ref.get("id"), str):
                return _REFERENCE_KINDS[wanted], ref["id"]
    return None
