"""Instagram: parse comments and media of the Instagram Graph API (business accounts).

A payload is an edge's page (``{"data": [...]}``), one comment or media, or an Instagram
webhook delivery (``{"object": "instagram", "entry": [{"changes": [{"field": "comments",
"value": ...}]}]}``). A comment (``text``) carries the replies the API nested in it
(``replies.data``), each one mention; it names its media (``media.id``) and, when it is a reply,
the comment it answers (``parent_id``). A media (``caption``: a post that tags the brand) is
one mention. Instagram has no links to comments: a comment's link is its media's, when known.
A webhook's ``mentions`` change holds ids only, so a file of them is rejected with that reason,
not dropped in silence; the webhook receiver fetches them (harken.platforms.meta.hooks).
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

PLATFORM = "instagram"
PROFILE = "https://www.instagram.com"


def parse(payload: Any) -> Iterator[ParseResult]:
    if isinstance(payload, dict) and payload.get("object") == "instagram" and "entry" in payload:
        items, rejected = _webhook_items(payload)
        yield from rejected
        page = True
    elif isinstance(payload, dict) and "data" in payload:
        items, page = payload["data"], True
        if not isinstance(items, list):
            yield Rejection("field data is not a list")
            return
    else:
        items, page = [payload], False
    flat = [i for item in items for i in _with_replies(item)]
    yield from each_item(flat, _item, page=page or len(flat) > 1)


def _with_replies(item: Any) -> list[Any]:
    """A comment and the replies nested in it (each naming the comment's media and itself as
    the parent)."""
    if not isinstance(item, dict):
        return [item]
    nested = dict_or_empty(item.get("replies")).get("data")
    return [item] + [
        {
            **r,
            "media": r.get("media") or item.get("media"),
            "parent_id": r.get("parent_id") or item.get("id"),
        }
        if isinstance(r, dict)
        else r
        for r in (nested if isinstance(nested, list) else [])
    ]


def has_words(item: Any) -> bool:
    """False for a comment or media without words (a photo with no caption): no mention,
    which a live source passes over (a replay file's is rejected, with that reason)."""
    if not isinstance(item, dict):
        return True
    words = item.get("text", item.get("caption"))
    return not (words is None or (isinstance(words, str) and not words.strip()))


def _item(item: Any) -> MentionRecord:
    item_id = require(item, "id", where="item")
    if not has_words(item):
        raise PayloadError("no text: a comment or media without words")
    comment = "text" in item or "caption" not in item
    text = require(item, "text" if comment else "caption", where="item")
    sender = dict_or_empty(item.get("from"))
    username = text_or_none(sender.get("username")) or text_or_none(item.get("username"))
    author_id = text_or_none(sender.get("id")) or username or "unknown"
    media = dict_or_empty(item.get("media"))
    media_id = text_or_none(media.get("id"))
    parent = text_or_none(item.get("parent_id"))
    answered = parent or media_id
    return MentionRecord(
        platform=PLATFORM,
        external_id=item_id,
        text=text,
        created_at=parse_time(item.get("timestamp"), "timestamp"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=author_id,
            handle=username or author_id,
            url=f"{PROFILE}/{username}/"
            if username and username.replace(".", "").replace("_", "").isalnum()
            else None,
        ),
        url=text_or_none(media.get("permalink"))
        if comment
        else text_or_none(item.get("permalink")),
        metrics=metrics_of(
            likes=item.get("like_count"),
            replies=item.get("comments_count") if not comment else None,
        ),
        reference=("reply", answered) if comment and answered else None,
        conversation_id=media_id if comment and media_id else item_id,
        raw=item,
    )


def _webhook_items(payload: dict[str, Any]) -> tuple[list[Any], list[Rejection]]:
    """The comments an Instagram webhook delivery carries, in the Graph API's shape (their
    time is the delivery's: webhooks do not say when a comment was written)."""
    items: list[Any] = []
    rejected: list[Rejection] = []
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else [entries]:
        entry = dict_or_empty(entry)
        changes = entry.get("changes")
        for change in changes if isinstance(changes, list) else [changes]:
            change = dict_or_empty(change)
            value = dict_or_empty(change.get("value"))
            if change.get("field") in ("comments", "live_comments"):
                items.append({**value, "timestamp": value.get("timestamp", entry.get("time"))})
            elif change.get("field") == "mentions":
                rejected.append(
                    Rejection(
                        "an Instagram mentions webhook holds only ids (media_id, comment_id): "
                        "`harken web` takes them live and fetches the posts (webhook_verify_token)"
                    )
                )
    return items, rejected
