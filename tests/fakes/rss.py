"""Fake feed hosting: real RSS 2.0 / Atom 1.0 documents, ETag and Last-Modified, 304s.

    feeds = FakeFeeds()
    feeds.publish("/news.xml", rss("Tech News", rss_item("Acme outage", guid="n-1")))
    with feeds.api: ...  # GET /news.xml answers the document; If-None-Match: <etag> gets a 304

Builders write the XML as a feed generator would (escaped text, or CDATA when asked) and
encode it in the encoding its prolog declares (characters it cannot hold become character
references, as XML allows).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from tests.fakes.http import FakeAPI, Reply, Request

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
PUBLISHED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@dataclass
class Hosted:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None


class FakeFeeds:
    """Documents by path; each publish is a new version with new validators."""

    def __init__(self, api: FakeAPI | None = None) -> None:
        self.api = api or FakeAPI()
        self.hosted: dict[str, Hosted] = {}
        self._versions = 0

    def reset(self) -> FakeFeeds:
        """Forget every document, route, request and scripted failure (one server, many tests:
        stopping a server costs half a second)."""
        self.hosted.clear()
        self.api.routes.clear()
        self.api.requests.clear()
        self.api._failures.clear()
        self.api.default_headers.clear()
        return self

    def publish(
        self,
        path: str,
        body: bytes | str,
        content_type: str = RSS_TYPE,
        etag: bool = True,
        last_modified: bool = True,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self._versions += 1
        stamp = PUBLISHED + timedelta(minutes=self._versions)
        self.hosted[path] = Hosted(
            data,
            content_type,
            f'"{hashlib.sha1(data).hexdigest()[:16]}"' if etag else None,
            format_datetime(stamp, usegmt=True) if last_modified else None,
        )
        self.api.route("GET", path)(self._serve)

    def fetches(self, path: str) -> list[Request]:
        return self.api.calls(path)

    def _serve(self, req: Request) -> Reply:
        doc = self.hosted[req.path]
        headers = {"Content-Type": doc.content_type}
        if doc.etag:
            headers["ETag"] = doc.etag
        if doc.last_modified:
            headers["Last-Modified"] = doc.last_modified
        # RFC 9110: If-None-Match wins; If-Modified-Since only counts without it.
        if "if-none-match" in req.headers:
            if doc.etag and req.headers["if-none-match"] == doc.etag:
                return Reply(304, headers=headers)
        elif doc.last_modified and req.headers.get("if-modified-since") == doc.last_modified:
            return Reply(304, headers=headers)
        return Reply(200, body=doc.body, headers=headers)


# -- documents ---------------------------------------------------------------------------------


def rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def _text(value: str, cdata: bool) -> str:
    return f"<![CDATA[{value}]]>" if cdata else escape(value)


def rss_item(
    title: str | None,
    guid: str | None = None,
    link: str | None = None,
    description: str | None = None,
    published: datetime | str | None = PUBLISHED,
    cdata: bool = False,
    author: str | None = None,
    permalink: bool = False,
) -> str:
    parts = ["<item>"]
    if title is not None:
        parts.append(f"<title>{escape(title)}</title>")
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="{str(permalink).lower()}">{escape(guid)}</guid>')
    if description is not None:
        parts.append(f"<description>{_text(description, cdata)}</description>")
    if published is not None:
        when = published if isinstance(published, str) else rfc822(published)
        parts.append(f"<pubDate>{escape(when)}</pubDate>")
    if author is not None:
        parts.append(f"<dc:creator>{escape(author)}</dc:creator>")
    parts.append("</item>")
    return "".join(parts)


def rss(
    title: str,
    *items: str,
    link: str = "https://news.example.com/",
    language: str = "en-us",
    encoding: str = "utf-8",
) -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>{escape(title)}</title>\n<link>{escape(link)}</link>\n"
        f"<description>{escape(title)}</description>\n<language>{language}</language>\n"
        + "\n".join(items)
        + "\n</channel>\n</rss>\n"
    )
    return text.encode(encoding, "xmlcharrefreplace")


def atom_entry(
    entry_id: str,
    title: str,
    link: str | None = None,
    summary: str | None = None,
    summary_type: str = "text",
    updated: datetime = PUBLISHED,
    author: str | None = None,
    content: str | None = None,
) -> str:
    parts = [f"<entry><id>{escape(entry_id)}</id><title>{escape(title)}</title>"]
    if link is not None:
        parts.append(f'<link rel="alternate" href={quoteattr(link)}/>')
    parts.append(f"<updated>{updated.isoformat()}</updated>")
    if author is not None:
        parts.append(f"<author><name>{escape(author)}</name></author>")
    if summary is not None:
        parts.append(f'<summary type="{summary_type}">{escape(summary)}</summary>')
    if content is not None:
        parts.append(f'<content type="html">{escape(content)}</content>')
    parts.append("</entry>")
    return "".join(parts)


def atom(
    title: str,
    *entries: str,
    link: str = "https://forum.example.com/",
    lang: str = "en",
    encoding: str = "utf-8",
) -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">\n'
        f"<title>{escape(title)}</title>\n<id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>\n"
        f'<link rel="alternate" href={quoteattr(link)}/>\n'
        f"<updated>{PUBLISHED.isoformat()}</updated>\n" + "\n".join(entries) + "\n</feed>\n"
    )
    return text.encode(encoding, "xmlcharrefreplace")
