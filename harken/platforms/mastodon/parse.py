"""Mastodon: parse Status entities (one, or a JSON list of them as timelines return)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harken.platforms.base import (
    AuthorRecord,
    MentionRecord,
    ParseResult,
    as_int,
    html_text,
    metrics_of,
    one_or_many,
    parse_time,
    require,
    text_or_none,
)

PLATFORM = "mastodon"


def parse(payload: Any) -> Iterator[ParseResult]:
    yield from one_or_many(payload, _status)


def _status(status: Any) -> MentionRecord:
    reblog = status.get("reblog") if isinstance(status, dict) else None
    account = require(status, "account", dict, where="status")
    acct = require(account, "acct", where="account")
    spoiler = text_or_none(status.get("spoiler_text")) or ""
    shown = reblog if isinstance(reblog, dict) else status
    text = html_text(require(shown, "content", where="status"))
    if spoiler:
        text = f"{spoiler}\n{text}"
    return MentionRecord(
        platform=PLATFORM,
        # The URI is global; status ids are only unique within one instance.
        external_id=require(status, "uri", where="status"),
        text=text,
        created_at=parse_time(require(status, "created_at", where="status"), "created_at"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=text_or_none(account.get("url")) or acct,
            handle=acct,
            name=text_or_none(account.get("display_name")) or None,
            followers=as_int(account.get("followers_count")),
            url=text_or_none(account.get("url")),
        ),
        url=text_or_none(status.get("url")) or text_or_none(status.get("uri")),
        language=text_or_none(status.get("language")),
        metrics=metrics_of(
            likes=status.get("favourites_count"),
            reposts=status.get("reblogs_count"),
            replies=status.get("replies_count"),
        ),
        reference=_reference(status),
        raw=status,
    )


def _reference(status: dict[str, Any]) -> tuple[str, str] | None:
    reblog = status.get("reblog")
    if isinstance(reblog, dict) and isinstance(reblog.get("uri"), str):
        return "retweet", reblog["uri"]
    reply_to = status.get("in_reply_to_id")
    if isinstance(reply_to, int) and not isinstance(reply_to, bool):
        reply_to = str(reply_to)  # some servers send ids as numbers
    return ("reply", reply_to) if isinstance(reply_to, str) and reply_to else None
