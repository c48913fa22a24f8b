"""YouTube: parse comment threads (a ``commentThreads.list`` page, or one thread) and comments
(``comments.list`` items) of the YouTube Data API v3.

A thread is its top-level comment plus the replies the API includes with it (up to five; the
source reads the rest of a longer thread with ``comments.list``, whose page this parses too);
each is one mention. A comment's id is its external id; a reply names its parent
(``reference``) and every comment of a thread shares the thread as its conversation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from harken.errors import PayloadError
from harken.platforms.base import (
    AuthorRecord,
    MentionRecord,
    ParseResult,
    Rejection,
    checked,
    clean_str,
    dict_or_empty,
    metrics_of,
    parse_time,
    readable,
    require,
    text_or_none,
)

PLATFORM = "youtube"
WATCH = "https://www.youtube.com/watch"


def parse(payload: Any) -> Iterator[ParseResult]:
    if isinstance(payload, dict) and "items" in payload:
        items = payload["items"]
        if not isinstance(items, list):
            yield Rejection("field items is not a list")
            return
        for index, item in enumerate(items):
            yield from _item(item, index)
        return
    yield from _item(payload, None)


def _item(item: Any, index: int | None) -> Iterator[ParseResult]:
    """A thread (its comment, then each reply it carries) or a lone comment: a bad reply is
    rejected on its own, the thread's other comments still come through."""
    if isinstance(item, dict) and item.get("kind") == "youtube#commentThread":
        snippet = dict_or_empty(item.get("snippet"))
        replies = snippet.get("totalReplyCount")
        yield _one(lambda: _comment(snippet.get("topLevelComment"), item.get("id"), replies), index)
        replies_given = dict_or_empty(item.get("replies")).get("comments")
        for reply in replies_given if isinstance(replies_given, list) else []:
            yield _one(lambda reply=reply: _comment(reply, item.get("id")), index)
    else:
        yield _one(lambda: _comment(item), index)


def _one(parse_one: Callable[[], MentionRecord], index: int | None) -> ParseResult:
    try:
        return checked(parse_one())
    except PayloadError as err:
        return Rejection(readable(str(err)), item=index)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as err:
        shape = f"unexpected payload shape ({type(err).__name__}: {err})"
        return Rejection(readable(shape), item=index)


def _comment(comment: Any, thread_id: Any = None, replies: Any = None) -> MentionRecord:
    comment_id = require(comment, "id", where="comment")
    snippet = require(comment, "snippet", dict, where="comment")
    author_id = dict_or_empty(snippet.get("authorChannelId")).get("value")
    display = text_or_none(snippet.get("authorDisplayName")) or "unknown"
    video = text_or_none(snippet.get("videoId"))
    parent = text_or_none(snippet.get("parentId"))
    text = snippet.get("textOriginal")
    if not isinstance(text, str):
        text = require(snippet, "textDisplay", where="comment.snippet")
    conversation = text_or_none(thread_id) or parent or comment_id
    return MentionRecord(
        platform=PLATFORM,
        external_id=comment_id,
        text=text,
        created_at=parse_time(snippet.get("publishedAt"), "comment.snippet.publishedAt"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=text_or_none(author_id) or display,
            handle=display.lstrip("@") or display,
            name=display,
            url=text_or_none(snippet.get("authorChannelUrl")),
        ),
        url=watch_url(video, comment_id),
        metrics=metrics_of(likes=snippet.get("likeCount"), replies=replies),
        reference=("reply", parent) if parent else None,
        conversation_id=conversation,
        raw=comment,
    )


def watch_url(video: str | None, comment_id: str) -> str | None:
    """The comment on its video's page (ids cleaned first: a lone surrogate cannot be
    percent-encoded)."""
    if not video:
        return None
    return (
        f"{WATCH}?v={quote(clean_str(video), safe='')}&lc={quote(clean_str(comment_id), safe='')}"
    )
