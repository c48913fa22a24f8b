"""RSS/Atom: parse feed entries as feedparser exposes them (title, link, summary, ...).

feedparser normalizes every date it can read into ``published_parsed`` / ``updated_parsed``
(a UTC ``time.struct_time``; a list of nine numbers or an ISO string once stored as JSON);
those win over the feed's own date strings, which come in more formats than RFC 822 and
ISO 8601. A ``*_detail`` of type ``text/plain`` marks text that is not HTML ("a <b> c" is a
title, not markup), so only HTML is stripped of its tags.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from harken.errors import PayloadError
from harken.platforms.base import (
    AuthorRecord,
    MentionRecord,
    ParseResult,
    dict_or_empty,
    html_text,
    one_or_many,
    parse_time,
    plausible,
    text_or_none,
)

PLATFORM = "rss"
DATE_FIELDS = ("published_parsed", "published", "updated_parsed", "updated")


def parse(payload: Any) -> Iterator[ParseResult]:
    yield from one_or_many(payload, _entry)


def _entry(entry: Any) -> MentionRecord:
    if not isinstance(entry, dict):
        raise PayloadError("entry is not a JSON object")
    link = text_or_none(entry.get("link")) or None
    entry_id = text_or_none(entry.get("id")) or link
    if not isinstance(entry_id, str) or not entry_id:
        raise PayloadError("entry has neither id nor link")
    title = _text(entry, "title")
    summary = _text(entry, "summary")
    if not title and not summary:
        raise PayloadError("entry has neither title nor summary")
    field_name = next((f for f in DATE_FIELDS if entry.get(f) is not None), None)
    if field_name is None:
        raise PayloadError("missing field published (or updated)")
    feed = dict_or_empty(entry.get("feed"))
    host = _host(link)
    site = text_or_none(feed.get("link")) or (f"https://{host}/" if host else entry_id)
    return MentionRecord(
        platform=PLATFORM,
        external_id=entry_id,
        text=f"{title}\n\n{summary}".strip(),
        created_at=_time(entry[field_name], field_name),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=site,
            handle=text_or_none(feed.get("title")) or _host(site) or site,
            name=text_or_none(entry.get("author")),
            url=site,
        ),
        url=link,
        language=text_or_none(feed.get("language")),
        raw=entry,
    )


def _host(url: str | None) -> str:
    """The host part of an address ("" for none, or one too broken to split)."""
    try:
        return urlsplit(url).netloc if url else ""
    except ValueError:  # "http://[oops"
        return ""


def _text(entry: dict[str, Any], key: str) -> str:
    value = text_or_none(entry.get(key)) or ""
    detail = entry.get(f"{key}_detail")
    if isinstance(detail, dict) and detail.get("type") == "text/plain":
        return value.strip()
    return html_text(value)


def _time(value: Any, field_name: str) -> datetime:
    """A feedparser struct_time (or its JSON list form), else what parse_time reads."""
    if isinstance(value, list | tuple) and len(value) == 9:
        try:
            moment = datetime.fromtimestamp(calendar.timegm(tuple(value)), tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise PayloadError(f"field {field_name} is not a valid timestamp") from None
        return plausible(moment, field_name)
    return parse_time(value, field_name)
