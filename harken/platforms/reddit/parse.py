"""Reddit: parse things (``t3`` submissions, ``t1`` comments) or a Listing of them.

This is the JSON Reddit's API returns and praw keeps in each object's ``__dict__``.
Reddit reports no follower counts, so authors have none.
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
    clip,
    dict_or_empty,
    each_item,
    metrics_of,
    parse_time,
    require,
    text_or_none,
)

PLATFORM = "reddit"
SITE = "https://www.reddit.com"


def parse(payload: Any) -> Iterator[ParseResult]:
    if isinstance(payload, dict) and payload.get("kind") == "Listing":
        children = dict_or_empty(payload.get("data")).get("children")
        if not isinstance(children, list):
            yield Rejection("Listing without data.children")
            return
        yield from each_item(children, _thing)
        return
    yield from each_item([payload], _thing, page=False)


def _thing(thing: Any) -> MentionRecord:
    kind = require(thing, "kind", where="thing")
    data = require(thing, "data", dict, where="thing")
    if kind == "t3":
        title = require(data, "title", where="data")
        body = text_or_none(data.get("selftext")) or ""
        text = f"{title}\n\n{body}".strip() if body else title
        reference = None
    elif kind == "t1":
        text = require(data, "body", where="data")
        parent = data.get("parent_id") or data.get("link_id")
        reference = ("reply", parent) if isinstance(parent, str) else None
    else:
        raise PayloadError(f"unsupported thing kind {clip(repr(kind))} (expected t1 or t3)")
    name = require(data, "name", where="data")
    author = text_or_none(data.get("author")) or "[deleted]"
    permalink = data.get("permalink")
    return MentionRecord(
        platform=PLATFORM,
        external_id=name,  # the fullname (t3_/t1_ + id) is unique across kinds
        text=text,
        created_at=parse_time(require(data, "created_utc", (int, float), "data"), "created_utc"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=text_or_none(data.get("author_fullname")) or f"name:{author}",
            handle=author,
            url=f"{SITE}/user/{author}",
        ),
        url=f"{SITE}{permalink}" if isinstance(permalink, str) else None,
        metrics=metrics_of(likes=data.get("score"), replies=data.get("num_comments")),
        reference=reference,
        conversation_id=text_or_none(data.get("link_id")) or name,
        raw=thing,
    )
