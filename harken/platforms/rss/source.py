"""RSS/Atom live source: news, blogs, app-review and forum feeds, fetched with conditional GETs.

harken does the HTTP itself (``requests``) so it owns the timeout, the ``If-None-Match`` /
``If-Modified-Since`` validators and the status codes; feedparser parses the bytes, given the
response headers so its encoding detection (HTTP charset, XML prolog, BOM) works as it would
on a URL. Feeds carry no search: every entry is read and the collector keeps those whose
title + summary name a brand (``store_records`` drops the rest as off-brand).

The cursor is JSON, one object per feed URL::

    {"https://example.com/news.xml": {"etag": "\\"abc\\"", "modified": "Sun, 22 Nov ...",
                                      "seen": ["3f2a...", ...], "retry_after": "2026-..."}}

``seen`` holds short digests of the entry ids already read (newest first, bounded by
``seen_limit`` but never shorter than the feed itself), so an entry is handed over once even
when the server ignores the validators. Each feed is one page, committed with its own new
state: a feed that fails does not hold back the others, and the poll still reports the
failure (naming the feed) once every feed has had its turn.

First poll of a feed: its newest ``first_poll_entries`` entries are stored and every entry it
holds is marked seen, so old items are not backfilled later either.

Entry ids: the entry's ``id`` (RSS ``guid``, Atom ``id``) when it is an absolute URI, else
``<feed url>#<id>`` (bare guids like "123" are only unique within their feed); no id: the
link; neither: ``<feed url>#sha256:<digest of title + date>``. An entry without any date is
dated when harken first read it. Feeds have no engagement metrics: ``refresh`` stays unsupported.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import logging
import re
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from harken import __version__
from harken.errors import RateLimited, SourceError, TransientSourceError
from harken.platforms.base import ParseResult
from harken.platforms.rss import parse as rss_parser
from harken.platforms.source import Page, Source, SourceSettings, Stopped, parse_reset

log = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")
# feedparser's complaints about the HTTP content type / charset, not about the XML itself:
# ubiquitous (text/xml without a charset) and harmless once the document parsed.
_BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


class FeedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    name: str | None = None  # shown as the author handle instead of the feed's own title


class RSSSettings(SourceSettings):
    feeds: list[str | FeedEntry]
    user_agent: str = f"harken/{__version__} (feed reader)"
    first_poll_entries: int = Field(default=50, ge=1)  # per feed, newest first
    seen_limit: int = Field(default=1000, ge=10)  # entry ids remembered per feed
    max_feed_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    @field_validator("feeds")
    @classmethod
    def _feeds_given(cls, value: list[str | FeedEntry], info: ValidationInfo) -> list[FeedEntry]:
        if not value:
            raise ValueError("give at least one feed URL")
        base = info.data.get("api_base_url")
        entries = [FeedEntry(url=v) if isinstance(v, str) else v for v in value]
        for entry in entries:
            url = entry.url.strip()
            if urlsplit(url).scheme not in ("http", "https") and not (base and url.startswith("/")):
                raise ValueError(
                    f"{shown_url(url)!r} is not an http(s) URL (a path like /news.xml needs "
                    "api_base_url)"
                )
        return entries


@dataclass(frozen=True)
class Feed:
    url: str  # absolute, after api_base_url; also the feed's key in the cursor
    name: str | None = None

    @property
    def shown(self) -> str:
        """The URL for logs and errors: no ``user:password@``, no query values.

        Private feeds often carry their key in the query (``?key=...``, ``?token=...``);
        the names stay, so the address is still recognisable: ``/feed?key=…&lang=…``.
        """
        return shown_url(self.url)


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class FeedFailure:
    feed: Feed
    error: SourceError


@dataclass
class _PollState:
    failures: list[FeedFailure] = field(default_factory=list)
    succeeded: int = 0


class RSSSource(Source):
    platform = "rss"
    Settings = RSSSettings
    settings: RSSSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feeds = _resolve(self.settings)
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": self.settings.user_agent, "Accept": ACCEPT})

    # -- polling ------------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[Page]:
        state = self._load(cursor)
        poll = _PollState()
        for feed in self.feeds:
            mine = state.get(feed.url, {})
            try:
                if self._resting(feed, mine):
                    continue
                items, new_state = self._poll_feed(feed, mine)
            except Stopped:
                raise
            except Exception as exc:  # one feed, whatever went wrong, never stops the others
                err = exc if isinstance(exc, SourceError) else self._unexpected(feed, exc)
                log.warning("%s: %s", self.name, err)
                poll.failures.append(FeedFailure(feed, err))
                if isinstance(err, RateLimited) and err.reset_at is not None:
                    # Remember when this feed may be asked again; the others go on meanwhile.
                    state[feed.url] = {**mine, "retry_after": err.reset_at.isoformat()}
                    yield Page([], _dump(state), f"feed {feed.shown} (rate limited)")
                continue
            poll.succeeded += 1
            state[feed.url] = new_state
            yield Page(items, _dump(state), f"feed {feed.shown}")
        if poll.failures:
            raise _combined(poll, len(self.feeds))

    def _unexpected(self, feed: Feed, exc: Exception) -> SourceError:
        """A bug, or an error nothing maps, met while reading one feed: that feed's failure."""
        # The message may quote the address, query and credentials included.
        detail = str(exc).replace(feed.url, feed.shown)
        trace = "".join(traceback.format_exception(exc)).replace(feed.url, feed.shown)
        log.debug("%s: feed %s failed:\n%s", self.name, feed.shown, trace)
        return SourceError(f"feed {feed.shown}: unexpected {type(exc).__name__}: {detail}"[:500])

    def _load(self, cursor: str | None) -> dict[str, dict[str, Any]]:
        try:
            state = json.loads(cursor) if cursor else {}
        except ValueError:
            log.warning("%s: the stored cursor is not JSON; starting afresh", self.name)
            state = {}
        if not isinstance(state, dict):
            state = {}
        # Feeds removed from the config leave the cursor with them.
        return {f.url: state[f.url] for f in self.feeds if isinstance(state.get(f.url), dict)}

    def _resting(self, feed: Feed, mine: dict[str, Any]) -> bool:
        until = parse_reset(mine.get("retry_after"), self.runtime.now())
        if until is not None and until > self.runtime.now():
            log.info("%s: feed %s asked us to wait until %s", self.name, feed.shown, until)
            return True
        return False

    def _poll_feed(
        self, feed: Feed, mine: dict[str, Any]
    ) -> tuple[list[ParseResult], dict[str, Any]]:
        """The new entries of one feed and its state once they are stored (``mine`` untouched)."""
        fetched = self._fetch(feed, mine)
        new_state = {k: v for k, v in mine.items() if k != "retry_after"}
        if fetched.status == 304:  # nothing new since the validators we sent
            _keep_validators(new_state, fetched.headers)  # a 304 may refresh them
            return [], new_state
        new_state.pop("etag", None)  # a full answer replaces them (a server may stop sending)
        new_state.pop("modified", None)
        _keep_validators(new_state, fetched.headers)
        entries = self._entries(feed, fetched)
        first_poll = "seen" not in mine
        seen = list(mine.get("seen") or [])
        known = set(seen)
        fresh = [e for e in entries if _digest(e["id"]) not in known]
        if first_poll:
            # ISO dates in UTC sort as text; the feed's own order breaks ties.
            fresh = sorted(fresh, key=_date_of, reverse=True)[: self.settings.first_poll_entries]
        current = [_digest(e["id"]) for e in entries]
        limit = max(self.settings.seen_limit, len(current))
        new_state["seen"] = _unique(current + seen)[:limit]
        return list(rss_parser.parse(fresh)), new_state

    # -- HTTP ---------------------------------------------------------------------------------

    def _fetch(self, feed: Feed, mine: dict[str, Any]) -> Fetched:
        headers = {}
        if mine.get("etag"):
            headers["If-None-Match"] = mine["etag"]
        if mine.get("modified"):
            headers["If-Modified-Since"] = mine["modified"]
        return self.call(f"feed {feed.shown}", lambda: self._get(feed, headers))

    def _get(self, feed: Feed, headers: dict[str, str]) -> Fetched:
        try:
            with self.session.get(
                feed.url, headers=headers, timeout=self.timeout, stream=True
            ) as response:
                got = {k.lower(): v for k, v in response.headers.items()}
                self._check_status(feed, response.status_code, got)
                body = b"" if response.status_code == 304 else self._read(feed, response)
                # feedparser resolves relative links against Content-Location.
                got["content-location"] = _base_of(response.url, got.get("content-location"))
                return Fetched(response.status_code, got, body)
        except requests.Timeout:
            raise TransientSourceError(
                f"feed {feed.shown}: no answer in {self.timeout:g}s"
            ) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientSourceError(
                f"feed {feed.shown}: cannot reach the server ({type(exc).__name__})"
            ) from None
        except requests.exceptions.ContentDecodingError:
            raise TransientSourceError(f"feed {feed.shown}: garbled compressed body") from None
        except requests.TooManyRedirects:
            raise SourceError(
                f"feed {feed.shown}: too many redirects", hint="check the feed's address"
            ) from None
        except requests.RequestException as exc:  # InvalidURL and friends: a config mistake
            raise SourceError(
                f"feed {feed.shown}: {type(exc).__name__}", hint="check the feed's address"
            ) from None

    def _check_status(self, feed: Feed, status: int, headers: dict[str, str]) -> None:
        where = f"feed {feed.shown}"
        if status < 400:  # 304 included: nothing new
            return
        retry_after = headers.get("retry-after")
        if status == 429 or (status == 503 and retry_after):
            reset_at = parse_reset(retry_after, self.runtime.now())
            raise RateLimited(f"{where}: HTTP {status} (rate limited)", reset_at=reset_at)
        if status >= 500 or status == 408:
            raise TransientSourceError(f"{where}: HTTP {status} from the server")
        fix = f"fix or remove {feed.shown} in sources.{self.name}.feeds"
        if status in (404, 410):
            raise SourceError(f"{where}: HTTP {status} (the feed is gone)", hint=fix)
        if status in (401, 403):
            raise SourceError(
                f"{where}: HTTP {status} (the server refuses harken)",
                hint=f"the feed may need a login or block unknown clients: set "
                f"sources.{self.name}.user_agent, or {fix}",
            )
        raise SourceError(f"{where}: HTTP {status}", hint=fix)

    def _read(self, feed: Feed, response: requests.Response) -> bytes:
        body = bytearray()
        for chunk in response.iter_content(chunk_size=65536):
            body += chunk
            if len(body) > self.settings.max_feed_bytes:
                raise SourceError(
                    f"feed {feed.shown}: larger than {self.settings.max_feed_bytes} bytes",
                    hint=f"raise sources.{self.name}.max_feed_bytes if the feed is really this big",
                )
        return bytes(body)

    # -- parsing ------------------------------------------------------------------------------

    def _entries(self, feed: Feed, fetched: Fetched) -> list[dict[str, Any]]:
        """feedparser's entries as plain JSON-ready dicts, each with its id, date and feed."""
        try:
            # A stream, never bytes: feedparser would try a str/bytes as a URL or a file name.
            parsed = feedparser.parse(io.BytesIO(fetched.body), response_headers=fetched.headers)
        except Exception as exc:  # a document that crashes the parser must not stop the others
            raise SourceError(
                f"feed {feed.shown}: feedparser failed on it ({type(exc).__name__}: {exc})"
            ) from exc
        entries = parsed.get("entries") or []
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if not entries and (problem is not None or not parsed.get("version")):
            why = _reason(problem) if problem is not None else "no RSS or Atom document in it"
            content_type = fetched.headers.get("content-type") or "no content type"
            if content_type not in why:
                why = f"{why} ({content_type})"
            raise SourceError(
                f"feed {feed.shown} cannot be read as a feed: {why}",
                hint="open the address in a browser: it should show an RSS or Atom document",
            )
        if problem is not None:
            level = logging.INFO if isinstance(problem, _BENIGN_BOZO) else logging.WARNING
            log.log(
                level,
                "%s: feed %s is not well-formed (%s); reading the %d entries it still gave",
                self.name,
                feed.shown,
                _reason(problem),
                len(entries),
            )
        about = _feed_info(feed, parsed.get("feed") or {})
        fetched_at = self.runtime.now().isoformat()
        plain: list[dict[str, Any]] = []
        ids: set[str] = set()
        for entry in entries:
            item = _plain_entry(feed, _plain(entry), about, fetched_at)
            if item["id"] not in ids:  # a feed listing one entry twice
                ids.add(item["id"])
                plain.append(item)
        return plain

    def translate(self, exc: Exception) -> SourceError | None:
        # _get maps requests' errors itself (it knows the feed); this catches any that slip by.
        if isinstance(exc, requests.Timeout | requests.ConnectionError):
            return TransientSourceError(f"RSS: {type(exc).__name__}: cannot reach the feed")
        return None


# -- helpers ----------------------------------------------------------------------------------


def shown_url(url: str) -> str:
    """``url`` without credentials: no ``user:password@``, query values (and fragment) elided."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not even a URL: nothing in it is safe to show
        return "(an unreadable address)"
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(
        f"{name}=…" if sep else "…"
        for name, sep, _ in (p.partition("=") for p in parts.query.split("&") if p)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


def _resolve(settings: RSSSettings) -> list[Feed]:
    """Absolute feed URLs (paths resolve against api_base_url), in order, without repeats."""
    feeds: dict[str, Feed] = {}
    base = (settings.api_base_url or "").rstrip("/")
    for entry in settings.feeds:
        url = entry.url.strip() if isinstance(entry, FeedEntry) else str(entry).strip()
        name = entry.name if isinstance(entry, FeedEntry) else None
        if url.startswith("/") and base:
            url = base + url
        feeds.setdefault(url, Feed(url, name))
    return list(feeds.values())


def _base_of(url: str, content_location: str | None) -> str:
    """The address the document's relative links resolve against."""
    try:
        return urljoin(url, content_location or "")
    except ValueError:  # "http://[oops": a header not worth failing the feed over
        return url


def _keep_validators(state: dict[str, Any], headers: dict[str, str]) -> None:
    """The ETag / Last-Modified to send back next time, as the server wrote them."""
    for header, key in (("etag", "etag"), ("last-modified", "modified")):
        if headers.get(header):
            state[key] = headers[header]


def _feed_info(feed: Feed, about: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": feed.name or about.get("title") or None,
        "link": about.get("link") or None,
        "language": about.get("language") or None,
        "url": feed.url,
    }


def _plain_entry(
    feed: Feed, entry: dict[str, Any], about: dict[str, Any], fetched_at: str
) -> dict[str, Any]:
    given = entry.get("id")
    entry["id"] = _entry_id(feed, entry)
    if given and given != entry["id"]:
        entry["guid"] = given  # the feed's own id, as it wrote it
    if not entry.get("published_parsed") and not entry.get("updated_parsed"):
        # No date feedparser could read: the entry is dated when harken first saw it.
        entry["published_parsed"] = fetched_at
        entry["date_from"] = "fetched"
    link = entry.get("link")
    if isinstance(link, str) and urlsplit(link).scheme not in ("http", "https"):
        # feedparser copies an Atom id ("tag:...", "urn:...") into link: no page to open.
        entry.pop("link")
    entry["feed"] = about
    for key in ("title", "summary"):  # the same text twice would double a huge entry's size
        detail = entry.get(f"{key}_detail")
        if isinstance(detail, dict) and detail.get("value") == entry.get(key):
            detail.pop("value")
    return entry


def _entry_id(feed: Feed, entry: dict[str, Any]) -> str:
    given = entry.get("id")
    if isinstance(given, str) and given.strip():
        given = given.strip()
        return given if _ABSOLUTE_URI.match(given) else f"{feed.url}#{given}"
    link = entry.get("link")
    if isinstance(link, str) and link.strip():
        return link.strip()
    basis = "\n".join(str(entry.get(k) or "") for k in ("title", "published", "updated")).encode(
        "utf-8", "surrogatepass"
    )
    return f"{feed.url}#sha256:{hashlib.sha256(basis).hexdigest()[:32]}"


def _plain(value: Any) -> Any:
    """FeedParserDicts as dicts, struct_times as ISO 8601 UTC: what JSON (and raw) can hold."""
    if isinstance(value, time.struct_time):
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _date_of(entry: dict[str, Any]) -> str:
    return str(entry.get("published_parsed") or entry.get("updated_parsed") or "")


def _digest(entry_id: str) -> str:
    # 64 bits: no collision in a thousand ids, and a cursor a twentieth the size of URLs.
    return hashlib.sha256(entry_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _reason(problem: Any) -> str:
    """feedparser's complaint in words (an XML error says where)."""
    if hasattr(problem, "getLineNumber"):  # xml.sax.SAXParseException
        return f"{problem.getMessage()} at line {problem.getLineNumber()}"
    return str(problem) or type(problem).__name__


def _dump(state: dict[str, dict[str, Any]]) -> str:
    return json.dumps(state, sort_keys=True)


def _combined(poll: _PollState, total: int) -> SourceError:
    """One error for the poll: every failing feed named, the others' pages already stored."""
    failures = poll.failures
    if len(failures) == 1 and total == 1:
        return failures[0].error
    if poll.succeeded == 0 and all(isinstance(f.error, RateLimited) for f in failures):
        # Every feed polled asked for a pause: the whole source waits for the first to end.
        resets = [f.error.reset_at for f in failures if isinstance(f.error, RateLimited)]
        known = [r for r in resets if r is not None]
        message = "; ".join(str(f.error) for f in failures)
        return RateLimited(message, reset_at=min(known) if known else None)
    message = f"{len(failures)} of {total} feeds failed: " + "; ".join(
        str(f.error) for f in failures
    )
    if all(isinstance(f.error, TransientSourceError) for f in failures):
        return TransientSourceError(message)
    return SourceError(message)
