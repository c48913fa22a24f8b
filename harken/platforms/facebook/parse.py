"""Facebook: parse Page posts and comments of the Graph API.

A payload is an edge's page (``{"data": [...], "paging": ...}``), one post or comment, or a
Page webhook delivery (``{"object": "page", "entry": [{"changes": [{"field": "feed", "value":
...}]}]}``: new and edited posts and comments; reactions and removals are not posts). A
comment names its post (``post_id``, as webhooks give it and the source adds) and, when it
answers another comment, that comment (``parent``): its reference is the one it answers, its
conversation the post. A post or comment without words (a photo, a sticker) is no mention:
rejected with that reason here, passed over by the live source (``has_words``).
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
    dict_or_empty,
    each_item,
    metrics_of,
    parse_time,
    require,
    text_or_none,
)

PLATFORM = "facebook"
UNKNOWN = "unknown"  # an author the token may not see (no pages_read_user_content)


def parse(payload: Any) -> Iterator[ParseResult]:
    if isinstance(payload, dict) and payload.get("object") == "page" and "entry" in payload:
        items, page = list(_webhook_items(payload)), True
    elif isinstance(payload, dict) and "data" in payload:
        items, page = payload["data"], True
        if not isinstance(items, list):
            yield Rejection("field data is not a list")
            return
    else:
        items, page = [payload], False
    yield from each_item(items, _item, page=page)


def has_words(item: Any) -> bool:
    """False for a post or comment without words (a photo, a sticker): no mention, which a
    live source passes over (a replay file's is rejected, with that reason)."""
    message = item.get("message") if isinstance(item, dict) else None
    return not (isinstance(item, dict) and "message" not in item) and not (
        isinstance(message, str) and not message.strip()
    )


def _item(item: Any) -> MentionRecord:
    item_id = require(item, "id", where="item")
    if not has_words(item):
        raise PayloadError("no text: a photo, sticker or share without words")
    sender = dict_or_empty(item.get("from"))
    sender_id = text_or_none(sender.get("id")) or UNKNOWN
    name = text_or_none(sender.get("name"))
    post_id = text_or_none(item.get("post_id"))
    parent = text_or_none(dict_or_empty(item.get("parent")).get("id"))
    comment = post_id is not None or parent is not None
    answered = parent or post_id
    return MentionRecord(
        platform=PLATFORM,
        external_id=item_id,
        text=require(item, "message", where="item"),
        created_at=parse_time(item.get("created_time"), "created_time"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=sender_id,
            handle=name or sender_id,
            name=name,
            url=f"https://www.facebook.com/{sender_id}" if sender_id.isdigit() else None,
        ),
        url=text_or_none(item.get("permalink_url")),
        metrics=_metrics(item),
        reference=("reply", answered) if comment and answered else None,
        conversation_id=post_id if comment else item_id,
        raw=item,
    )


def _metrics(item: dict[str, Any]) -> dict[str, int]:
    def total(edge: str) -> Any:
        return dict_or_empty(dict_or_empty(item.get(edge)).get("summary")).get("total_count")

    return metrics_of(
        likes=item.get("like_count", total("reactions")),
        replies=item.get("comment_count", total("comments")),
        reposts=dict_or_empty(item.get("shares")).get("count"),
    )


def _webhook_items(payload: dict[str, Any]) -> Iterator[Any]:
    """The posts and comments a Page webhook delivery carries, in the Graph API's shape."""
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else [entries]:
        changes = dict_or_empty(entry).get("changes")
        for change in changes if isinstance(changes, list) else [changes]:
            change = dict_or_empty(change)
            value = dict_or_empty(change.get("value"))
            if change.get("field") != "feed" or value.get("verb") not in ("add", "edit", "edited"):
                continue
            kind = value.get("item")
            if kind == "comment":
                parent = text_or_none(value.get("parent_id"))
                post = text_or_none(value.get("post_id"))
                yield {
                    "id": value.get("comment_id"),
                    "message": value.get("message"),
                    "created_time": value.get("created_time"),
                    "from": value.get("from"),
                    "post_id": post,
                    **({"parent": {"id": parent}} if parent and parent != post else {}),
                }
            elif kind in ("post", "status", "photo", "video", "share"):
                yield {
                    "id": value.get("post_id"),
                    "message": value.get("message"),
                    "created_time": value.get("created_time"),
                    "from": value.get("from"),
                }
