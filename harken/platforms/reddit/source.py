"""Reddit live source: keyword search plus every new post of watched subreddits, via praw.

Two kinds of feed, each with its own cursor entry:

* ``search:<brand>`` — the brand's keywords as a Reddit search (``sort=new``) over
  ``subreddits`` (``[all]``: the whole site; otherwise ``r/a+b`` restricted to them). Reddit's
  search finds submissions only.
* ``new:<sub>`` and ``comments:<sub>`` — every new submission and every new comment of each
  subreddit in ``watch``; the collector's brand filter keeps what is about a brand.

Every listing is newest first, so a feed's cursor is a high-water mark: ``mark`` (the newest
``created_utc`` stored) and ``seen`` (the fullnames stored at exactly that second, since many
comments share one). A poll reads pages until an item older than the mark appears, and the mark
moves only with the page that ends that walk; meanwhile the cursor keeps the ``after`` token
(and the newest item of the walk, ``pending_mark``/``pending_seen``), so a poll cut short resumes
below the last stored page instead of reading it again. A first poll takes one page. Search
re-reads ``search_overlap`` below the mark, because Reddit indexes posts a little late.

praw is only the transport here: ``Reddit.request`` returns the parsed JSON, and the Listing's
things (less those provably stored) go, as Reddit sent them, to the parser replay imports use.
praw.ini and ``$praw_*`` are ignored: harken's config is the only one. prawcore's own waiting
is switched off
(it retries 5xx after ``time.sleep`` and throttles with ``time.sleep`` up to the window's
reset), so harken's policy (``Source.call``) does all the waiting, interruptibly.
"""

from __future__ import annotations

import configparser
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from typing import Any

import praw
import prawcore
import requests
from praw.config import Config as PrawConfig
from praw.exceptions import PRAWException
from prawcore.rate_limit import RateLimiter
from prawcore.sessions import FiniteRetryStrategy
from pydantic import Field, field_validator, model_validator

from harken import __version__
from harken.config import Duration, StrList
from harken.errors import ConfigError, RateLimited, SourceError, TransientSourceError
from harken.net.limits import cap_answers
from harken.platforms.base import metrics_of
from harken.platforms.query import BrandQuery, brand_queries
from harken.platforms.reddit import parse as reddit_parser
from harken.platforms.source import (
    Page,
    RefreshTarget,
    Source,
    SourceSettings,
    http_error,
    parse_reset,
)

log = logging.getLogger(__name__)

OAUTH_URL = "https://oauth.reddit.com"
REDDIT_URL = "https://www.reddit.com"
SEEN_CAP = 200  # fullnames kept for the mark's second (a busy subreddit's comments share one)
INFO_BATCH = 100  # ids per /api/info call (the API's limit)
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
_BARE_TERM = re.compile(r"^\w+$")
_LUCENE_WORDS = {"AND", "OR", "NOT"}


class RedditSettings(SourceSettings):
    client_id: str | None = None
    client_secret: str | None = None
    user_agent: str = f"harken/{__version__} (brand listening)"
    username: str | None = None  # with password: a "script" app acting as this account
    password: str | None = None  # without both: application-only OAuth (client credentials)
    subreddits: StrList = Field(
        default_factory=lambda: ["all"]
    )  # where brand keywords are searched ([]: no search)
    watch: StrList = Field(
        default_factory=list
    )  # subreddits whose every new submission and comment is read
    limit: int = Field(default=100, ge=1, le=100)  # items per page (API limit: 100)
    max_pages: int = Field(default=10, ge=1)  # per feed and poll; the rest waits for the next
    first_poll_pages: int = Field(default=1, ge=1)  # no cursor yet: how far back to start
    search_overlap: Duration = timedelta(minutes=5)  # search indexes late: re-read this much
    max_query_length: int = Field(default=512, ge=64)  # Reddit truncates q at 512

    @field_validator("client_id", "client_secret")
    @classmethod
    def _credential_given(cls, value: str | None) -> str:
        if not value:
            raise ValueError("Reddit needs an app's client id and secret (reddit.com/prefs/apps)")
        return value

    @field_validator("user_agent")
    @classmethod
    def _descriptive_agent(cls, value: str) -> str:
        # prawcore refuses shorter ones; Reddit throttles generic agents hard.
        if len(value.strip()) < 7:
            raise ValueError("Reddit wants a descriptive user agent, e.g. 'harken/0.1 (by u/you)'")
        return value.strip()

    @field_validator("subreddits", "watch")
    @classmethod
    def _subreddit_names(cls, names: list[str]) -> list[str]:
        clean: list[str] = []
        for name in names:
            bare = re.sub(r"^/?r/", "", name.strip()).strip("/")
            if not _SUBREDDIT.match(bare):
                raise ValueError(f"{name!r} is not a subreddit name (like 'sysadmin' or 'r/aws')")
            if bare.lower() not in {c.lower() for c in clean}:
                clean.append(bare)
        return clean

    @field_validator("watch")
    @classmethod
    def _no_firehose(cls, names: list[str]) -> list[str]:
        for name in names:
            if name.lower() in {"all", "popular"}:
                raise ValueError(
                    f"r/{name} is every post on Reddit: search it instead (subreddits: [all])"
                )
        return names

    @model_validator(mode="after")
    def _login_complete(self) -> RedditSettings:
        if bool(self.username) != bool(self.password):
            raise ValueError("username and password go together (a script app's login)")
        return self


@dataclass(frozen=True)
class Feed:
    """One newest-first listing harken walks down to its cursor's mark."""

    key: str  # the cursor's entry
    path: str  # relative to the OAuth URL
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    overlap: float = 0.0  # seconds below the mark read again (late-indexed items)
    subreddit: str | None = None  # a watched one (its feeds fail together)


def reddit_term(term: str) -> str:
    """A search term in Reddit's (Lucene) syntax: a bare word, else a quoted phrase."""
    clean = term.replace('"', " ").strip()
    if _BARE_TERM.match(clean) and clean.upper() not in _LUCENE_WORDS:
        return clean
    return f'"{clean}"'


def build_query(brand: BrandQuery) -> str:
    """Keywords, handles and hashtags as words (Reddit has no @ or # search), minus exclusions.

    Reddit search has no language filter: the brand's languages are left to the classifier.
    """
    terms: dict[str, str] = {}
    for term in [*brand.keywords, *brand.handles, *brand.hashtags]:
        terms.setdefault(term.casefold(), reddit_term(term))
    parts = [t for t in terms.values() if t != '""']
    if not parts:
        return ""
    query = parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
    return query + "".join(f" NOT {reddit_term(e)}" for e in brand.exclude)


class _NoRetries(FiniteRetryStrategy):
    """prawcore retries 5xx and dropped connections twice, after time.sleep (up to 4 s).

    Here every call is tried once; ``Source.call`` decides about retrying, and its waits go
    through the runtime (stubbed in tests, interrupted by a shutdown).
    """

    def _sleep_seconds(self) -> float | None:
        return None

    def should_retry_on_failure(self) -> bool:
        return False


class _Unthrottled(RateLimiter):
    """prawcore's limiter sleeps (up to the window's reset, 10 minutes) before each call.

    harken reads the same headers (``Source.note_quota``) and waits through its own policy.
    """

    def delay(self) -> None:
        return None

    def update(self, *, response_headers: Any) -> None:
        return None


class _Requestor(prawcore.Requestor):
    """prawcore's Requestor with harken's timeout on every call, and each response observed.

    praw 8 ignores its own ``timeout`` setting and prawcore passes its 16 s default to every
    API call, so the timeout is forced here.
    """

    def __init__(self, *args: Any, on_response: Callable[[Any], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_response = on_response
        cap_answers(self._http)

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        response = super().request(*args, timeout=self.timeout, **kwargs)
        self._on_response(response)
        return response


class _Unavailable(SourceError):
    """One subreddit cannot be read (private, banned, missing); the other feeds go on."""


class _AfterLost(Exception):
    """The item an ``after`` token names is gone, so Reddit answers an empty page."""


def make_reddit(
    settings: RedditSettings, timeout: float, on_response: Callable[[Any], None]
) -> praw.Reddit:
    """A praw client that never retries, sleeps or reads praw.ini (module docstring)."""
    _only_praws_own_defaults()
    base = (settings.api_base_url or "").rstrip("/")
    reddit = praw.Reddit(
        "DEFAULT",  # not $praw_site
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        user_agent=settings.user_agent,
        username=settings.username,
        password=settings.password,
        # Every key praw would otherwise take from praw.ini or $praw_*, said explicitly.
        refresh_token=None,
        redirect_uri=None,
        # One base sends both the token request and the API calls (tests, gateways). The
        # OAuth URL ends in "/" so that a gateway's path prefix survives urljoin.
        oauth_url=f"{base}/" if base else OAUTH_URL,
        reddit_url=base or REDDIT_URL,
        check_for_updates=False,
        check_for_async=False,
        requestor_class=_Requestor,
        requestor_kwargs={"timeout": timeout, "on_response": on_response},
    )
    # praw builds one prawcore session per authorizer (``_core`` is the one in use). Neither
    # its retries nor its limiter can be switched off through praw, hence the private names.
    for attribute in ("_core", "_read_only_core", "_authorized_core"):
        core = getattr(reddit, attribute, None)
        if isinstance(core, prawcore.Session):
            core._retry_strategy_class = _NoRetries
            core._rate_limiter = _Unthrottled(window_size=core.rate_limiter.window_size)
    return reddit


def add_missing_challenge(response: requests.Response) -> None:
    """prawcore picks its 401 exception by ``www-authenticate`` and dies with a KeyError when
    a proxy drops it; Reddit itself always says "invalid_token"."""
    if response.status_code == 401 and "www-authenticate" not in response.headers:
        response.headers["www-authenticate"] = 'Bearer realm="reddit", error="invalid_token"'


class RedditSource(Source):
    platform = "reddit"
    Settings = RedditSettings
    settings: RedditSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reddit = self._client()
        self.feeds = self._feeds()

    # -- construction -------------------------------------------------------------------------

    def _client(self) -> praw.Reddit:
        return make_reddit(self.settings, self.timeout, self._observe)

    def _feeds(self) -> list[Feed]:
        feeds = []
        scope = "+".join(self.settings.subreddits)
        overlap = self.settings.search_overlap.total_seconds()
        for brand in brand_queries(self.brands) if scope else []:
            query = build_query(brand)
            if not query:
                continue
            if len(query) > self.settings.max_query_length:
                raise ConfigError(
                    f"sources.{self.name}: the Reddit search for brand {brand.brand!r} is "
                    f"{len(query)} characters, over Reddit's {self.settings.max_query_length}",
                    hint="shorten the brand's keywords or exclusions",
                )
            params = {
                "q": query,
                "sort": "new",
                "t": "all",
                "type": "link",
                # As praw sends it: r/all is the whole site, anything else only those subs.
                "restrict_sr": scope.lower() != "all",
            }
            label = f"search for {brand.brand}"
            feeds.append(
                Feed(f"search:{brand.brand}", f"r/{scope}/search/", params, label, overlap)
            )
        for sub in self.settings.watch:
            for kind, what in (("new", "submissions"), ("comments", "comments")):
                path, label = f"r/{sub}/{kind}/", f"r/{sub} {what}"
                feeds.append(Feed(f"{kind}:{sub}", path, {}, label, subreddit=sub))
        return feeds

    def _observe(self, response: requests.Response) -> None:
        add_missing_challenge(response)
        headers = response.headers
        if "x-ratelimit-remaining" in headers:
            remaining = _number(headers.get("x-ratelimit-remaining"))
            used = _number(headers.get("x-ratelimit-used"))
            limit = remaining + used if remaining is not None and used is not None else None
            # x-ratelimit-reset is in seconds from now (parse_reset reads small numbers so).
            self.note_quota(remaining, limit, headers.get("x-ratelimit-reset"))

    # -- polling ------------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[Page]:
        state = self._load_cursor(cursor)
        problems: list[SourceError] = []
        failed: set[str | None] = set()
        for feed in self.feeds:
            if feed.subreddit in failed:
                continue
            try:
                yield from self._feed_pages(feed, state)
            except _Unavailable as err:
                log.warning("%s: %s", self.name, err)
                problems.append(err)
                failed.add(feed.subreddit)
            except TransientSourceError as err:
                # One feed failing (Reddit's search is down now and then) does not hold up
                # the others; two in one poll mean Reddit is, and the poll ends.
                problems.append(err)
                if sum(isinstance(p, TransientSourceError) for p in problems) > 1:
                    break
                log.warning("%s: %s; going on with the other feeds", self.name, err)
        if problems:
            message = "; ".join(dict.fromkeys(str(p) for p in problems))
            if any(isinstance(p, TransientSourceError) for p in problems):
                raise TransientSourceError(message)
            raise SourceError(
                message,
                hint=f"fix or remove these subreddits in sources.{self.name} (watch, subreddits)",
            )

    def _load_cursor(self, cursor: str | None) -> dict[str, dict[str, Any]]:
        try:
            loaded = json.loads(cursor) if cursor else {}
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            log.warning("%s: the stored cursor is unreadable; starting afresh", self.name)
            loaded = {}
        keys = {feed.key for feed in self.feeds}
        # Feeds no longer configured drop out; one added again later starts afresh.
        return {k: v for k, v in loaded.items() if k in keys and isinstance(v, dict)}

    def _feed_pages(self, feed: Feed, state: dict[str, dict[str, Any]]) -> Iterator[Page]:
        mine = state.setdefault(feed.key, {})
        # A first walk cut short stays a first walk (bounded), not a backfill of all history.
        first_poll = "mark" not in mine
        budget = self.settings.first_poll_pages if first_poll else self.settings.max_pages
        floor = mine["mark"] - feed.overlap if "mark" in mine else None
        seen = set(mine.get("seen", []))
        restarted = False
        number = 0
        while number < budget:
            number += 1
            try:
                listing = self._listing(feed, mine.get("after"))
            except _AfterLost:
                if restarted:
                    raise TransientSourceError(
                        f"{feed.label}: pages keep coming back empty"
                    ) from None
                # Walk again from the top: no gap; what is already stored is ignored.
                log.warning("%s: %s lost its page token; reading it again", self.name, feed.label)
                mine.pop("after", None)
                restarted, number = True, number - 1
                continue
            children: list[Any] = listing["data"]["children"]
            _note_newest(mine, children)
            reached = floor is not None and any(_older(c, floor) for c in children)
            after = listing["data"].get("after")
            if after and not reached and not (first_poll and number == budget):
                mine["after"] = after
            else:  # the walk is done: everything down to the old mark is stored with this page
                mine.pop("after", None)
                _commit_mark(mine)
            fresh = [c for c in children if _is_new(c, floor, seen)]
            items = list(reddit_parser.parse({"kind": "Listing", "data": {"children": fresh}}))
            label = f"{feed.label}, page {number}"
            yield Page(items, json.dumps(state, sort_keys=True), label)
            if "after" not in mine:
                return

    def _listing(self, feed: Feed, after: str | None) -> dict[str, Any]:
        params = {**feed.params, "limit": self.settings.limit}
        if after:
            params["after"] = after

        def fetch() -> dict[str, Any]:
            self._check_budget()
            body = self.reddit.request(method="GET", path=feed.path, params=params)
            listing = _as_listing(body, feed.label)
            if after and not listing["data"]["children"]:
                raise _AfterLost
            return listing

        return self.call(feed.label, fetch)

    def _check_budget(self) -> None:
        """Reddit answers 429 once the window's budget is spent: stop before, not after."""
        quota, now = self.quota, self.runtime.now()
        spent = quota is not None and quota.remaining is not None and quota.remaining <= 0
        if spent and quota and quota.reset_at is not None and quota.reset_at > now:
            raise RateLimited("Reddit: the request budget is spent", reset_at=quota.reset_at)

    # -- engagement ---------------------------------------------------------------------------

    def refresh(self, targets: list[RefreshTarget]) -> dict[str, dict[str, int]]:
        names = [t.external_id for t in targets if t.external_id.startswith(("t1_", "t3_"))]
        found: dict[str, dict[str, int]] = {}
        for start in range(0, len(names), INFO_BATCH):
            ids = ",".join(names[start : start + INFO_BATCH])

            def fetch(ids: str = ids) -> dict[str, Any]:
                self._check_budget()
                body = self.reddit.request(method="GET", path="api/info/", params={"id": ids})
                return _as_listing(body, "engagement refresh")

            for child in self.call("engagement refresh", fetch)["data"]["children"]:
                data = child.get("data") if isinstance(child, dict) else None
                if isinstance(data, dict) and isinstance(data.get("name"), str):
                    found[data["name"]] = metrics_of(
                        likes=data.get("score"), replies=data.get("num_comments")
                    )
        return found

    # -- errors -------------------------------------------------------------------------------

    def translate(self, exc: Exception) -> SourceError | None:
        now = self.runtime.now()
        if isinstance(exc, prawcore.TooManyRequests):
            headers = exc.response.headers
            reset = headers.get("x-ratelimit-reset") or headers.get("retry-after")
            return RateLimited(
                "Reddit: HTTP 429 Too Many Requests", reset_at=parse_reset(reset, now)
            )
        if isinstance(exc, prawcore.BadJSON):
            return TransientSourceError("Reddit: the response is not valid JSON")
        if isinstance(exc, prawcore.InvalidToken):
            # prawcore forgot the token; the next try fetches a new one.
            return TransientSourceError("Reddit: the access token expired or was revoked")
        if isinstance(exc, prawcore.ServerError):
            return TransientSourceError(f"Reddit: HTTP {exc.response.status_code} from the server")
        if isinstance(exc, prawcore.Redirect):
            # Reddit redirects a subreddit that does not exist to its subreddit search.
            return _Unavailable(f"Reddit: {_where(exc)} does not exist")
        if isinstance(exc, prawcore.Forbidden | prawcore.NotFound):
            status = exc.response.status_code
            return _Unavailable(
                f"Reddit: HTTP {status} for {_where(exc)} (private, quarantined or banned?)"
            )
        if isinstance(exc, prawcore.OAuthException):
            return SourceError(
                f"Reddit refused the login: {exc.error}",
                hint=f"check sources.{self.name}.username and password (the account must be "
                "a developer of the script app)",
            )
        if isinstance(exc, prawcore.ResponseException):
            status = exc.response.status_code
            if status in (400, 401, 403) and prawcore.const.ACCESS_TOKEN_PATH in exc.response.url:
                return SourceError(
                    f"Reddit refused the app's credentials (HTTP {status})",
                    hint=f"check sources.{self.name}.client_id and client_secret "
                    "(REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET; harken doctor)",
                )
            reset = exc.response.headers.get("x-ratelimit-reset")
            return http_error(status, "Reddit", reset=reset, now=now)
        if isinstance(exc, prawcore.RequestException):
            # Timeouts and dropped connections; prawcore wraps requests' exceptions.
            original = type(exc.original_exception).__name__
            where = self.settings.api_base_url or "https://oauth.reddit.com"
            return TransientSourceError(f"Reddit: cannot reach {where} ({original})")
        if isinstance(exc, PRAWException):  # RedditAPIException: a 400 that explains itself
            return SourceError(f"Reddit: {exc}"[:300])
        if isinstance(exc, ValueError):  # a garbled token response
            return TransientSourceError("Reddit: the response is not valid JSON")
        return None


# -- helpers ------------------------------------------------------------------------------------


def _only_praws_own_defaults() -> None:
    """Load praw's settings from its bundled praw.ini alone, once per process.

    praw otherwise reads praw.ini from the working directory and the user's config folder,
    where a stray file could redirect the OAuth endpoints or add a refresh token; harken's
    config is the only configuration. Every credential is also passed explicitly, which beats
    both praw.ini and $praw_* variables.
    """
    with PrawConfig.LOCK:
        if PrawConfig.CONFIG is None:
            parser = configparser.ConfigParser(interpolation=None)
            with resources.files("praw").joinpath("praw.ini").open("r") as handle:
                parser.read_file(handle)
            PrawConfig.CONFIG = parser


def _as_listing(body: Any, what: str) -> dict[str, Any]:
    """The body as a Listing whose children are a list, else a garbled (transient) page."""
    data = body.get("data") if isinstance(body, dict) and body.get("kind") == "Listing" else None
    if not isinstance(data, dict) or not isinstance(data.get("children"), list):
        raise TransientSourceError(f"{what}: the response is not a Reddit Listing")
    return body


def _data(child: Any) -> dict[str, Any]:
    data = child.get("data") if isinstance(child, dict) else None
    return data if isinstance(data, dict) else {}


def _created(child: Any) -> float | None:
    value = _data(child).get("created_utc")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _fullname(child: Any) -> str | None:
    value = _data(child).get("name")
    return value if isinstance(value, str) else None


def _older(child: Any, floor: float) -> bool:
    created = _created(child)
    return created is not None and created < floor


def _is_new(child: Any, floor: float | None, seen: set[str]) -> bool:
    """Not provably stored already. Unreadable items pass, for the parser to reject by name."""
    created, name = _created(child), _fullname(child)
    if floor is None or created is None:
        return True
    return created >= floor and name not in seen


def _note_newest(mine: dict[str, Any], children: list[Any]) -> None:
    """Keep the newest second of this walk and the fullnames seen at it."""
    for child in children:
        created, name = _created(child), _fullname(child)
        if created is None or name is None:
            continue
        pending = mine.get("pending_mark")
        if pending is None or created > pending:
            mine["pending_mark"], mine["pending_seen"] = created, [name]
        elif created == pending and name not in mine["pending_seen"]:
            mine["pending_seen"] = [*mine["pending_seen"], name][-SEEN_CAP:]


def _commit_mark(mine: dict[str, Any]) -> None:
    """The walk is stored: its newest item becomes the mark (never moving it back)."""
    pending = mine.pop("pending_mark", None)
    names = mine.pop("pending_seen", [])
    if pending is None:
        return
    mark = mine.get("mark")
    if mark is None or pending > mark:
        mine["mark"], mine["seen"] = pending, names
    elif pending == mark:
        mine["seen"] = list(dict.fromkeys([*mine.get("seen", []), *names]))[-SEEN_CAP:]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _where(exc: prawcore.ResponseException) -> str:
    """The subreddit path of a failed request (r/name/...), for the user."""
    match = re.search(r"/(r/[^/?]+)", exc.response.url or "")
    return match.group(1) if match else "a Reddit listing"
