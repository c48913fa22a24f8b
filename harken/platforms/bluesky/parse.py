"""Bluesky: parse ``app.bsky.feed.defs#postView`` objects or a ``searchPosts`` page of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harken.platforms.base import (
    AuthorRecord,
    MentionRecord,
    ParseResult,
    Rejection,
    as_int,
    dict_or_empty,
    each_item,
    metrics_of,
    parse_time,
    require,
    text_or_none,
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
            name=text_or_none(author.get("displayName")),
            followers=as_int(author.get("followersCount")),
            url=f"{APP}/profile/{handle}",
        ),
        url=f"{APP}/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}",
        language=text_or_none(langs[0]) if isinstance(langs, list) and langs else None,
        metrics=metrics_of(
            likes=post.get("likeCount"),
            reposts=post.get("repostCount"),
            replies=post.get("replyCount"),
            quotes=post.get("quoteCount"),
        ),
        reference=_reference(record),
        conversation_id=_uri(dict_or_empty(record.get("reply")).get("root")) or uri,
        raw=post,
    )


def _uri(ref: Any) -> str | None:
    """The ``uri`` of a strong ref (``{"uri": ..., "cid": ...}``), if it is one."""
    return text_or_none(dict_or_empty(ref).get("uri"))


def _reference(record: dict[str, Any]) -> tuple[str, str] | None:
    embed = dict_or_empty(record.get("embed"))
    quoted = _uri(embed.get("record"))
    if embed.get("$type") == "app.bsky.embed.record" and quoted:
        return "quote", quoted
    parent = _uri(dict_or_empty(record.get("reply")).get("parent"))
    return ("reply", parent) if parent else None
