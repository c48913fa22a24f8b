"""Bluesky live source: ``app.bsky.feed.searchPosts`` through atproto's ``Client``.

**Queries.** Bluesky's post search ANDs its terms and has no working ``OR``, so each brand
becomes one search per term: every keyword as a quoted phrase (quotes also keep a keyword
such as ``from:x`` or ``lang:en`` from being read as an operator), every handle as the
phrase ``"@handle"`` and every hashtag as ``#tag`` (the tag filter). A keyword that contains
another keyword's words finds nothing the shorter one does not, so it is not searched.
Exclusions stay out of the query: harken drops an excluded phrase only when no other mention
of the brand is left in the post (see ``harken.brands``), and the collector applies that.
A brand with exactly one language passes it as ``lang``.

**Cursor.** JSON, per brand and search: ``newest``, the newest ``sortAt`` stored
(``min(record.createdAt, indexedAt)``, the time the search sorts and filters by). Each search
asks for ``since = newest - search_overlap``: posts reach the search index late, and an author's
clock may lag, so a post can turn up *behind* the newest one already seen. The store's
unique keys absorb the posts read twice. Results come newest first, so ``newest`` moves only
once the last page of a search is stored; while a search is paged through, the page token
(``page``) and the newest post of that search (``pending``) are stored with each page, and a
poll cut short resumes from the token. The first poll of a search reads one page.

**Login.** Without ``handle``/``app_password`` the source searches the public AppView
anonymously, where Bluesky allows it (it sometimes turns anonymous search off under load
and never pages it: a refused page token ends the search there, with a warning). With them
it logs in with ``com.atproto.server.createSession`` once, at the ``bsky.social`` entryway,
and atproto then sends every query to the account's PDS named in the session's DID document
(the PDS proxies ``app.bsky`` queries to the AppView). A non-default ``api_base_url`` takes
everything: the login and every query after it, whatever the DID document says.

atproto never retries or sleeps by itself; ``Source.call`` owns waiting. The app password
only ever travels in the createSession body, which nothing logs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from atproto_client import Client, models
from atproto_client.client.session import Session, SessionEvent
from atproto_client.exceptions import (
    BadRequestError,
    InvokeTimeoutError,
    LoginRequiredError,
    ModelError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.request import Request
from pydantic import Field, SecretStr, ValidationInfo, field_validator

from harken.config import Duration
from harken.errors import PayloadError, RateLimited, SourceError, TransientSourceError
from harken.listeners import bluesky as bluesky_parser
from harken.listeners.base import metrics_of, parse_time
from harken.listeners.query import BrandQuery, brand_queries
from harken.listeners.source import Page, RefreshTarget, Source, SourceSettings, parse_reset

log = logging.getLogger(__name__)

PUBLIC_APPVIEW = "https://public.api.bsky.app"  # anonymous reads
ENTRYWAY = "https://bsky.social"  # where an account logs in; its PDS takes over after
SEARCH_POSTS = "app.bsky.feed.searchPosts"
GET_POSTS = "app.bsky.feed.getPosts"
GET_POSTS_MAX = 25  # uris per getPosts call (lexicon limit)
EXPIRED = frozenset({"ExpiredToken", "InvalidToken"})


class BlueskySettings(SourceSettings):
    api_base_url: str | None = PUBLIC_APPVIEW
    handle: str | None = None  # the account to log in with (optional)
    app_password: SecretStr | None = Field(default=None, validate_default=True)
    limit: int = Field(default=100, ge=1, le=100)  # posts per page (API limits)
    max_pages: int = Field(default=10, ge=1)  # per search and poll; the rest waits
    first_poll_pages: int = Field(default=1, ge=1)  # no cursor yet: how far back to start
    search_overlap: Duration = timedelta(minutes=5)  # how far behind `newest` to look again

    @field_validator("handle")
    @classmethod
    def _clean_handle(cls, value: str | None) -> str | None:
        cleaned = (value or "").strip().lstrip("@")
        return cleaned or None

    @field_validator("app_password")
    @classmethod
    def _password_with_handle(cls, value: SecretStr | None, info: ValidationInfo) -> Any:
        handle = info.data.get("handle")
        if handle and not (value and value.get_secret_value()):
            raise ValueError(
                "Bluesky login needs an app password with the handle "
                "(Settings > Privacy and security > App passwords)"
            )
        if value and value.get_secret_value() and not handle:
            raise ValueError("an app password needs the account's handle (sources.*.handle)")
        return value


def build_searches(brand: BrandQuery) -> list[str]:
    """One ``q`` per brand term (Bluesky search has no OR), redundant keywords dropped."""
    phrases = [p for p in (_clean(k, " ") for k in brand.keywords) if p]
    words = [set(p.casefold().split()) for p in phrases]
    # Terms are ANDed, so "acme cloud" only finds posts that "acme" finds already.
    searches = [
        f'"{p}"' for p, w in zip(phrases, words, strict=True) if not any(o < w for o in words)
    ]
    searches += [f'"@{h}"' for h in (_clean(h, "") for h in brand.handles) if h]
    searches += [f"#{t}" for t in (_clean(t, "") for t in brand.hashtags) if t]
    unique: dict[str, str] = {}
    for q in searches:  # search is case-insensitive
        unique.setdefault(q.casefold(), q)
    return list(unique.values())


def _clean(term: str, space: str) -> str:
    """A term without double quotes (they would end the phrase), spaces collapsed."""
    return space.join(term.replace('"', " ").split())


def sort_at(post: Any) -> datetime | None:
    """The time Bluesky's search sorts by: the earlier of createdAt and indexedAt.

    None without a valid indexedAt: it is the server's own clock, so a post claiming a
    createdAt in 2099 cannot push the cursor past every post still to come.
    """
    if not isinstance(post, dict):
        return None
    record = post.get("record")
    record = record if isinstance(record, dict) else {}
    try:
        indexed = parse_time(post.get("indexedAt"), "indexedAt")
    except PayloadError:
        return None
    try:
        return min(indexed, parse_time(record.get("createdAt"), "record.createdAt"))
    except PayloadError:
        return indexed


def iso(moment: datetime) -> str:
    """An atproto datetime: UTC, milliseconds, ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class BlueskySource(Source):
    platform = "bluesky"
    Settings = BlueskySettings
    settings: BlueskySettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        base = (self.settings.api_base_url or PUBLIC_APPVIEW).rstrip("/")
        self.login_wanted = bool(self.settings.handle)
        # Logging in at the public AppView cannot work: Bluesky's default is the entryway.
        self.pinned = base != PUBLIC_APPVIEW
        self.base_url = base
        self.login_url = base if self.pinned else ENTRYWAY
        self.client = self._new_client()
        self.logged_in = False
        self.searches = {
            brand.brand: (build_searches(brand), _single(brand.languages))
            for brand in brand_queries(self.brands)
        }

    def _new_client(self) -> Client:
        client = Client(base_url=self.base_url, request=Request(timeout=self.timeout))
        client.on_session_change(self._repin)
        return client

    def _reset_session(self) -> None:
        # A fresh client: the dead session's tokens must not ride along on the new login.
        self.client.request.close()
        self.client = self._new_client()
        self.logged_in = False

    def close(self) -> None:
        """Close the HTTP connections (harken keeps a source for the life of the process)."""
        self.client.request.close()

    # -- polling ------------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[Page]:
        old: dict[str, dict[str, dict[str, Any]]] = json.loads(cursor) if cursor else {}
        # Only the current brands and terms: a removed term's state goes with it.
        state = {
            brand: {q: dict((old.get(brand) or {}).get(q) or {}) for q in searches}
            for brand, (searches, _) in self.searches.items()
        }
        for brand, (searches, lang) in self.searches.items():
            for q in searches:
                yield from self._search_pages(brand, q, lang, state)

    def _search_pages(
        self, brand: str, q: str, lang: str | None, state: dict[str, dict[str, dict[str, Any]]]
    ) -> Iterator[Page]:
        mine = state[brand][q]
        first_poll = "newest" not in mine and "page" not in mine
        budget = self.settings.first_poll_pages if first_poll else self.settings.max_pages
        for number in range(1, budget + 1):
            label = f"brand {brand}, search {q}, page {number}"
            try:
                body = self._search(q, lang, mine)
            except _PagingRefused as refused:
                log.warning(
                    "%s: %s: the API will not page this search (%s); older posts in it are "
                    "skipped (log in with handle/app_password, or poll more often)",
                    self.name,
                    label,
                    refused,
                )
                self._finish(mine)
                yield Page([], json.dumps(state, sort_keys=True), label)
                return
            posts = body["posts"]
            newest = max((t for t in map(sort_at, posts) if t is not None), default=None)
            pending = mine.get("pending")
            if newest is not None and (pending is None or newest > _time(pending)):
                mine["pending"] = iso(newest)
            token = body.get("cursor")
            more = bool(posts) and isinstance(token, str) and bool(token)
            if more and not (first_poll and number == budget):
                mine["page"] = token
            else:  # the search is done: everything up to its newest post is stored
                more = False
                self._finish(mine)
            items = list(bluesky_parser.parse(body)) if posts else []
            yield Page(items, json.dumps(state, sort_keys=True), label)
            if not more:
                return

    def _finish(self, mine: dict[str, Any]) -> None:
        mine.pop("page", None)
        pending = mine.pop("pending", None)
        if pending is not None and ("newest" not in mine or _time(pending) > _time(mine["newest"])):
            mine["newest"] = pending
        elif "newest" not in mine:
            # Nothing found yet: start from now rather than search the past again each poll.
            mine["newest"] = iso(self.runtime.now())

    def _search(self, q: str, lang: str | None, mine: dict[str, Any]) -> dict[str, Any]:
        since = None
        if "newest" in mine:
            since = iso(_time(mine["newest"]) - self.settings.search_overlap)
        params = models.AppBskyFeedSearchPosts.Params(
            q=q,
            sort="latest",
            limit=self.settings.limit,
            lang=lang,
            since=since,
            cursor=mine.get("page"),
        )
        return self._query(f"search {q}", SEARCH_POSTS, params, paging=params.cursor is not None)

    # -- engagement ---------------------------------------------------------------------------

    def refresh(self, targets: list[RefreshTarget]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        uris = [t.external_id for t in targets if t.external_id.startswith("at://")]
        for start in range(0, len(uris), GET_POSTS_MAX):
            params = models.AppBskyFeedGetPosts.Params(uris=uris[start : start + GET_POSTS_MAX])
            body = self._query("engagement refresh", GET_POSTS, params)
            for post in body["posts"]:
                if isinstance(post, dict) and isinstance(post.get("uri"), str):
                    found[post["uri"]] = metrics_of(
                        likes=post.get("likeCount"),
                        reposts=post.get("repostCount"),
                        replies=post.get("replyCount"),
                        quotes=post.get("quoteCount"),
                    )
        return found

    # -- calls --------------------------------------------------------------------------------

    def _query(self, what: str, nsid: str, params: Any, paging: bool = False) -> dict[str, Any]:
        """One XRPC query answering ``{"posts": [...]}``, as raw JSON (the parser wants the
        API's own field names, and one bad post must not sink the page as a model would)."""

        def fetch() -> dict[str, Any]:
            self._login_if_needed()
            try:
                response = self.client.invoke_query(nsid, params=params)
            except (BadRequestError, UnauthorizedError) as exc:
                if self.logged_in and _xrpc_error(exc) in EXPIRED:
                    # The server ended the session early (atproto refreshes by the clock only).
                    log.info("%s: the Bluesky session expired; logging in again", self.name)
                    self._reset_session()
                    self._login_if_needed()
                    response = self.client.invoke_query(nsid, params=params)
                elif paging:
                    raise _PagingRefused(self._describe(exc)) from exc
                else:
                    raise
            self._read_quota(response.headers)
            body = response.content
            if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
                raise TransientSourceError(f"{what}: the response is not a page of posts")
            return body

        return self.call(what, fetch)

    def _login_if_needed(self) -> None:
        if self.logged_in or not self.login_wanted:
            return
        assert self.settings.handle and self.settings.app_password  # the settings check both
        self.client.update_base_url(self.login_url)
        self.client.login(
            self.settings.handle,
            self.settings.app_password.get_secret_value(),
            fetch_bsky_profile=False,  # one request less; harken never needs the profile
        )
        self.logged_in = True
        log.info("%s: logged in to Bluesky as %s", self.name, self.settings.handle)

    def _repin(self, event: SessionEvent, session: Session) -> None:
        # atproto moves to the PDS of the DID document on every login and refresh;
        # an explicit api_base_url must keep every call.
        if self.pinned:
            self.client.update_base_url(self.base_url)

    def _read_quota(self, headers: dict[str, Any]) -> None:
        if "ratelimit-remaining" in headers:
            self.note_quota(
                headers.get("ratelimit-remaining"),
                headers.get("ratelimit-limit"),
                headers.get("ratelimit-reset"),
            )

    # -- errors -------------------------------------------------------------------------------

    def translate(self, exc: Exception) -> SourceError | None:
        if isinstance(exc, RequestErrorBase):
            response = exc.response
            if response is None:  # no answer at all: timeout, refused, reset
                if isinstance(exc, InvokeTimeoutError):
                    return TransientSourceError(f"Bluesky: no answer within {self.timeout:g}s")
                return TransientSourceError(
                    f"Bluesky: cannot reach {self.base_url} ({type(exc).__name__})"
                )
            self._read_quota(response.headers)
            status = response.status_code
            if status == 429:
                headers = response.headers
                reset = headers.get("ratelimit-reset") or headers.get("retry-after")
                return RateLimited(
                    f"Bluesky: {self._describe(exc)}",
                    reset_at=parse_reset(reset, self.runtime.now()),
                )
            if status >= 500 or status == 408:
                return TransientSourceError(f"Bluesky: {self._describe(exc)}")
            if status in (401, 403):
                return SourceError(f"Bluesky: {self._describe(exc)}", hint=self._auth_hint())
            return SourceError(f"Bluesky: {self._describe(exc)}")
        if isinstance(exc, LoginRequiredError):
            return SourceError("Bluesky: the session cannot be used", hint=self._auth_hint())
        if isinstance(exc, ModelError | ValueError):  # garbled JSON, or not the documented shape
            return TransientSourceError("Bluesky: the response is not valid JSON of the API")
        return None

    def _auth_hint(self) -> str:
        if self.login_wanted:
            return (
                f"check sources.{self.name}.handle and its app_password (an app password, "
                "not the account password; harken doctor)"
            )
        return (
            "Bluesky's public AppView refuses anonymous post search at times: set "
            f"sources.{self.name}.handle and app_password to search as an account"
        )

    @staticmethod
    def _describe(exc: RequestErrorBase) -> str:
        response = exc.response
        if response is None:
            return type(exc).__name__
        status = response.status_code
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        content = response.content
        if isinstance(content, XrpcError):
            detail = f"{content.error}: {content.message}" if content.message else content.error
            return f"HTTP {status} {detail}"[:300]
        return f"HTTP {status} {phrase}"


class _PagingRefused(Exception):
    """The API refused a page token (anonymous paging, or a search paged too deep)."""


def _xrpc_error(exc: RequestErrorBase) -> str | None:
    content = exc.response.content if exc.response is not None else None
    return content.error if isinstance(content, XrpcError) else None


def _single(languages: tuple[str, ...]) -> str | None:
    return languages[0] if len(languages) == 1 else None


def _time(value: str) -> datetime:
    return parse_time(value, "cursor")
