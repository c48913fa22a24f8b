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
poll cut short resumes from the token. The first walk of a search (no ``newest`` yet) reads
``first_poll_pages`` pages; ``first`` (the pages it has left) stays in the state until it is
done, so a first walk cut short resumes as one, instead of paging through the whole search
history with no ``since``. A page token the API refuses is dropped and the search starts again
from the top (``since`` still applies; the store absorbs the pages read twice), except where
paging cannot work at all (see Login). A stored cursor of the wrong shape is replaced by a
fresh start, with a warning.

**Login.** Without ``handle``/``app_password`` the source searches the public AppView
anonymously, where Bluesky allows it (it sometimes turns anonymous search off under load
and never pages it: a page token refused in the middle of a search ends the search there,
with a warning, and the older posts in it are skipped). With them
it logs in with ``com.atproto.server.createSession`` once, at the ``bsky.social`` entryway,
and atproto then sends every query to the account's PDS named in the session's DID document
(the PDS proxies ``app.bsky`` queries to the AppView). A non-default ``api_base_url`` takes
everything: the login and every query after it, whatever the DID document says.

atproto never retries or sleeps by itself; ``Source.call`` owns waiting. The app password
only ever travels in the createSession body, which nothing logs. A poll and the engagement
refresh may run at once in two threads: logging in and replacing an expired session happen
under one lock, so ``logged_in`` always describes ``client``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, TypeGuard

import httpx
from atproto_client import Client, models
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
from harken.errors import (
    ConfigError,
    PayloadError,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from harken.net.limits import capped_httpx_hooks
from harken.platforms.base import metrics_of, parse_time
from harken.platforms.bluesky import parse as bluesky_parser
from harken.platforms.query import BrandQuery, brand_queries
from harken.platforms.source import Page, RefreshTarget, Source, SourceSettings, parse_reset

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
    # The live stream (stream: true): Jetstream's firehose, resumed from a little before the
    # last event read; no event for stream_idle means the connection is dead.
    jetstream_url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    stream_rewind: Duration = timedelta(seconds=5)
    stream_idle: Duration = timedelta(seconds=60)

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
        # Guards client, logged_in and _retired: a poll and the engagement refresh may both
        # find the session expired at once.
        self._session_lock = threading.Lock()
        self._retired: list[Client] = []  # replaced clients, closed later (see _reset_session)
        self.client = self._new_client()
        self.logged_in = False
        self.searches = {
            brand.brand: (build_searches(brand), _single(brand.languages))
            for brand in brand_queries(self.brands)
        }

    def _new_client(self) -> Client:
        # No keep-alive: a connection httpx reuses from its pool raises no audit event, so a
        # total deadline (harken.net.deadline) would not see it. One handshake per call is cheap
        # next to a poll interval.
        request = Request(
            timeout=self.timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
            event_hooks=capped_httpx_hooks(),
        )
        client = Client(base_url=self.base_url, request=request)
        client.on_session_change(lambda event, session: self._repin(client))
        return client

    def _session_client(self, expired: Client | None = None) -> Client:
        """The client to call with, logged in when a login is configured.

        ``expired``: the client whose session the server just refused; it is replaced, unless
        another thread replaced it already (then its fresh session is used as it is).
        """
        with self._session_lock:
            if expired is not None and expired is self.client:
                self._replace_client()
            if self.login_wanted and not self.logged_in:
                self._login(self.client)
            return self.client

    def account_client(self) -> Client:
        """The client logged in as ``handle`` (what posting needs; searching may go without)."""
        if not self.login_wanted:
            raise ConfigError(
                f"sources.{self.name}: this needs a Bluesky account",
                hint=f"set sources.{self.name}.handle and app_password",
            )
        return self._session_client()

    def _reset_session(self, expired: Client | None = None) -> None:
        """Forget the session (``expired``: only if that client is still the current one)."""
        with self._session_lock:
            if expired is None or expired is self.client:
                self._replace_client()

    def _replace_client(self) -> None:
        # A fresh client: the dead session's tokens must not ride along on the new login.
        # The old one may still be answering another thread's call: it is closed at the next
        # replacement (or at close), not now.
        for old in self._retired:
            old.request.close()
        self._retired = [self.client]
        self.client = self._new_client()
        self.logged_in = False

    def _login(self, client: Client) -> None:
        assert self.settings.handle and self.settings.app_password  # the settings check both
        client.update_base_url(self.login_url)
        client.login(
            self.settings.handle,
            self.settings.app_password.get_secret_value(),
            fetch_bsky_profile=False,  # one request less; harken never needs the profile
        )
        self.logged_in = True
        log.info("%s: logged in to Bluesky as %s", self.name, self.settings.handle)

    def close(self) -> None:
        """Close the HTTP connections (harken keeps a source for the life of the process)."""
        with self._session_lock:
            for client in [*self._retired, self.client]:
                client.request.close()
            self._retired = []

    # -- polling ------------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[Page]:
        state = self._load_cursor(cursor)
        for brand, (searches, lang) in self.searches.items():
            for q in searches:
                yield from self._search_pages(brand, q, lang, state)

    def _load_cursor(self, cursor: str | None) -> dict[str, dict[str, dict[str, Any]]]:
        """The stored state of the current brands and terms (a removed term's state goes).

        A cursor of the wrong shape would fail every poll: it is replaced by a fresh start
        (a first walk of each search), with a warning.
        """
        try:
            loaded = json.loads(cursor) if cursor else {}
        except ValueError:
            loaded = None
        old: dict[str, dict[str, dict[str, Any]]] = {}
        if _is_state(loaded):
            old = loaded
        else:
            log.warning("%s: the stored cursor is unreadable; starting from now", self.name)
        state: dict[str, dict[str, dict[str, Any]]] = {}
        for brand, (searches, _) in self.searches.items():
            state[brand] = {}
            for q in searches:
                mine = dict((old.get(brand) or {}).get(q) or {})
                if not _is_search_state(mine):
                    log.warning(
                        "%s: brand %s, search %s: the stored cursor is unreadable; starting "
                        "from now",
                        self.name,
                        brand,
                        q,
                    )
                    mine = {}
                state[brand][q] = mine
        return state

    def _search_pages(
        self, brand: str, q: str, lang: str | None, state: dict[str, dict[str, dict[str, Any]]]
    ) -> Iterator[Page]:
        mine = state[brand][q]
        if "newest" in mine:
            mine.pop("first", None)
        else:
            # A first walk: it has no `since`, so it must stay a first walk (bounded by
            # first_poll_pages) when it is cut short and resumed from its page token.
            left = mine.get("first", self.settings.first_poll_pages)
            mine["first"] = min(left, self.settings.first_poll_pages)
        first = "first" in mine
        budget = mine["first"] if first else self.settings.max_pages
        stored_token = "page" in mine  # from an earlier poll, maybe an earlier process
        restarted = False
        number = 0
        while number < budget:
            label = f"brand {brand}, search {q}, page {number + 1}"
            try:
                body = self._search(q, lang, mine)
            except _PagingRefused as refused:
                if not restarted and (self.login_wanted or stored_token):
                    # Finishing here would move `newest` past the pages not read yet, and skip
                    # them for good: search again from the top instead (`since` still holds).
                    log.warning(
                        "%s: %s: the page token was refused (%s); searching again from the top",
                        self.name,
                        label,
                        refused,
                    )
                    restarted = True
                    mine.pop("page", None)
                    mine.pop("pending", None)
                    if first:
                        mine["first"] = self.settings.first_poll_pages
                        budget = number + mine["first"]
                    continue
                log.warning(
                    "%s: %s: the API will not page this search (%s); older posts in it are "
                    "skipped (%s)",
                    self.name,
                    label,
                    refused,
                    "poll more often"
                    if self.login_wanted
                    else "log in with handle/app_password, or poll more often",
                )
                self._finish(mine)
                yield Page([], json.dumps(state, sort_keys=True), label)
                return
            number += 1
            posts = body["posts"]
            newest = max((t for t in map(sort_at, posts) if t is not None), default=None)
            pending = mine.get("pending")
            if newest is not None and (pending is None or newest > _time(pending)):
                mine["pending"] = iso(newest)
            token = body.get("cursor")
            more = bool(posts) and isinstance(token, str) and bool(token)
            if first:
                mine["first"] = budget - number  # pages this first walk has left
                more = more and mine["first"] > 0
            if more:
                mine["page"] = token
            else:  # the search is done: everything up to its newest post is stored
                self._finish(mine)
            items = list(bluesky_parser.parse(body)) if posts else []
            yield Page(items, json.dumps(state, sort_keys=True), label)
            if not more:
                return

    def _finish(self, mine: dict[str, Any]) -> None:
        mine.pop("page", None)
        mine.pop("first", None)
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
            client = self._session_client()
            try:
                response = client.invoke_query(nsid, params=params)
            except (BadRequestError, UnauthorizedError) as exc:
                if not (self.login_wanted and _xrpc_error(exc) in EXPIRED):
                    if paging:
                        raise _PagingRefused(self._describe(exc)) from exc
                    raise
                # The server ended the session early (atproto refreshes by the clock only).
                log.info("%s: the Bluesky session expired; logging in again", self.name)
                client = self._session_client(expired=client)
                try:
                    response = client.invoke_query(nsid, params=params)
                except (BadRequestError, UnauthorizedError) as again:
                    if paging and _xrpc_error(again) not in EXPIRED:
                        raise _PagingRefused(self._describe(again)) from again
                    raise
            self._read_quota(response.headers)
            body = response.content
            if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
                raise TransientSourceError(f"{what}: the response is not a page of posts")
            return body

        return self.call(what, fetch)

    def _repin(self, client: Client) -> None:
        # atproto moves to the PDS of the DID document on every login and refresh;
        # an explicit api_base_url must keep every call.
        if self.pinned:
            client.update_base_url(self.base_url)

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
        if isinstance(exc, httpx.UnsupportedProtocol):  # not an http(s) address: a config slip
            return SourceError(
                f"Bluesky: cannot call {self.base_url} ({exc})",
                hint=f"check sources.{self.name}.api_base_url",
            )
        if isinstance(exc, httpx.TimeoutException):
            return TransientSourceError(f"Bluesky: no answer within {self.timeout:g}s")
        if isinstance(exc, httpx.HTTPError):
            # What atproto passes through unwrapped: a connection closed without an answer
            # (RemoteProtocolError), a garbled compressed body, a proxy error...
            return TransientSourceError(
                f"Bluesky: cannot reach {self.base_url} ({type(exc).__name__})"
            )
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


def _is_state(value: Any) -> TypeGuard[dict[str, dict[str, dict[str, Any]]]]:
    """A cursor of the documented shape: brand -> search -> that search's state."""
    return isinstance(value, dict) and all(
        isinstance(searches, dict) and all(isinstance(mine, dict) for mine in searches.values())
        for searches in value.values()
    )


def _is_search_state(mine: dict[str, Any]) -> bool:
    for key in ("newest", "pending"):
        if key in mine:
            try:
                _time(mine[key])
            except PayloadError:
                return False
    if "page" in mine and not (isinstance(mine["page"], str) and mine["page"]):
        return False
    first = mine.get("first", 1)
    return isinstance(first, int) and not isinstance(first, bool) and first >= 1


def _single(languages: tuple[str, ...]) -> str | None:
    return languages[0] if len(languages) == 1 else None


def _time(value: str) -> datetime:
    return parse_time(value, "cursor")
