"""RSS/Atom: parse feed entries as feedparser exposes them (title, link, summary, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from harken.errors import PayloadError
from harken.listeners.base import (
    AuthorRecord,
    MentionRecord,
    ParseResult,
    one_or_many,
    parse_time,
)
from harken.text import html_to_text

PLATFORM = "rss"


def parse(payload: Any) -> Iterator[ParseResult]:
    yield from one_or_many(payload, _entry)


def _entry(entry: Any) -> MentionRecord:
    if not isinstance(entry, dict):
        raise PayloadError("entry is not a JSON object")
    link = entry.get("link")
    entry_id = entry.get("id") or link
    if not isinstance(entry_id, str) or not entry_id:
        raise PayloadError("entry has neither id nor link")
    title = html_to_text(str(entry.get("title") or ""))
    summary = html_to_text(str(entry.get("summary") or ""))
    if not title and not summary:
        raise PayloadError("entry has neither title nor summary")
    when = entry.get("published") or entry.get("updated")
    if when is None:
        raise PayloadError("missing field published (or updated)")
    feed = entry.get("feed") if isinstance(entry.get("feed"), dict) else {}
    site = feed.get("link") or (f"https://{urlsplit(link).netloc}/" if link else entry_id)
    return MentionRecord(
        platform=PLATFORM,
        external_id=entry_id,
        text=f"{title}\n\n{summary}".strip(),
        created_at=parse_time(when, "published"),
        author=AuthorRecord(
            platform=PLATFORM,
            external_id=site,
            handle=feed.get("title") or urlsplit(site).netloc or site,
            name=entry.get("author"),
            url=site,
        ),
        url=link,
        language=feed.get("language"),
        raw=entry,
    )
