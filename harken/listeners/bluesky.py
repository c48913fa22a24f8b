"""Bluesky: parse ``app.bsky.feed.defs#postView`` objects or a ``searchPosts`` page of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harken.listeners.base import (
    AuthorRecord,
    MentionRecord,
    ParseResult,
    Rejection,
    each_item,
    metrics_of,
    parse_time,
    require,
)

PLATFORM = "bluesky"
APP = "https://bsky.app"


def parse(payload: Any) -> Iterator[ParseResult]:
    if isinstance(payload, dict) and "posts" in payload:
        posts = payload["posts"]
        if not isinstance(posts, list):
            yield Rejection("field posts is not a list")
            return
        yield from each_item(posts, _post)
        return
    yield from each_item([payload], _post, page=False)


def _post(post: Any) -> MentionRecord:
    uri = require(post, "uri", where="post")
    author = require(post, "author", dict, where="post")
    record = require(post, "record", dict, where="post")
    handle = require(author, "handle", where="author")
    langs = record.get("langs")
    created = record.get("createdAt") or post.get("indexedAt")
    return MentionRecord(
        platform=PLATFORM,
        external_id=uri,
        text=require(record, "text", where="record"),
        created_at=parse_time(created, "record.createdAt"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=require(author, "did", where="author"),
            handle=handle,
            name=author.get("displayName"),
            url=f"{APP}/profile/{handle}",
        ),
        url=f"{APP}/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}",
        language=langs[0] if isinstance(langs, list) and langs else None,
        metrics=metrics_of(
            likes=post.get("likeCount"),
            reposts=post.get("repostCount"),
            replies=post.get("replyCount"),
            quotes=post.get("quoteCount"),
        ),
        reference=_reference(record),
        conversation_id=((record.get("reply") or {}).get("root") or {}).get("uri") or uri,
        raw=post,
    )


def _reference(record: dict[str, Any]) -> tuple[str, str] | None:
    embed = record.get("embed") or {}
    if embed.get("$type") == "app.bsky.embed.record" and (embed.get("record") or {}).get("uri"):
        return "quote", embed["record"]["uri"]
    parent = (record.get("reply") or {}).get("parent") or {}
    return ("reply", parent["uri"]) if isinstance(parent.get("uri"), str) else None
