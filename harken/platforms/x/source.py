"""X (Twitter) live source: API v2 recent search through tweepy's ``Client``.

One query per brand (keywords, @handles, #hashtags, ``-"exclusions"``, ``lang:``). The cursor is
JSON, per brand: ``since_id`` (the newest tweet stored) and, while a search is being paged
through, the page token and the newest id that search saw. Pages go from newest to oldest, so
``since_id`` only moves once the last page is stored; a poll cut short (kill, ``max_pages``)
resumes from the stored page token instead of reading (and paying for) the same tweets again.

tweepy hard-codes ``https://api.twitter.com``; a transport adapter mounted on the client's
``requests`` session sends its calls to ``api_base_url`` instead, with a timeout (tweepy sets
none). tweepy's own rate-limit waiting is off: a 429 without a reset header would make it retry
at once, forever; harken's policy (``Source.call``) waits instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from pydantic import Field, SecretStr, field_validator
from requests.adapters import HTTPAdapter

from harken.errors import ConfigError, RateLimited, SourceError, TransientSourceError
from harken.net.limits import cap_answers
from harken.platforms.base import Rejection, clip
from harken.platforms.query import BrandQuery, brand_queries, quoted
from harken.platforms.source import Page, RefreshTarget, Source, SourceSettings, parse_reset
from harken.platforms.x import parse as x_parser

log = logging.getLogger(__name__)

X_HOST = "https://api.twitter.com"
SEARCH_WINDOW = timedelta(days=7)  # how far back recent search reaches
TWEET_FIELDS = [
    "created_at",
    "public_metrics",
    "lang",
    "conversation_id",
    "referenced_tweets",
    "author_id",
]
USER_FIELDS = ["username", "name", "verified", "public_metrics"]


class XSettings(SourceSettings):
    bearer_token: str | None = None
    api_base_url: str | None = X_HOST
    include_retweets: bool = True  # retweets show how far a complaint spreads
    # X bills per tweet read: leaving excluded phrases out of the query saves quota, but also
    # skips a post that names an excluded phrase *and* the brand (ingest would keep it).
    exclude_in_query: bool = True
    max_results: int = Field(default=100, ge=10, le=100)  # tweets per page (API limits)
    max_pages: int = Field(default=10, ge=1)  # per brand and poll; the rest waits for the next
    first_poll_pages: int = Field(default=1, ge=1)  # no cursor yet: how far back to start
    max_query_length: int = Field(default=512, ge=64)  # 512 on Basic, 4096 on Pro
    # Enterprise only: X replays up to this many minutes missed when the stream reconnects
    # (``backfill_minutes``); other plans leave it unset (a poll reads the gap anyway).
    stream_backfill_minutes: int | None = Field(default=None, ge=1, le=5)
    # OAuth 1.0a user context, for replies only (harken.platforms.x.reply): an app-only bearer
    # token cannot post. The app's API key and secret, and the account's access token pair.
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None

    @field_validator("bearer_token")
    @classmethod
    def _token_given(cls, value: str | None) -> str:
        if not value:
            raise ValueError("X needs an app bearer token")
        return value


class _Redirect(HTTPAdapter):
    """Sends tweepy's hard-coded host to ``api_base_url``, with a default timeout."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url.startswith(X_HOST):
            request.url = self.base_url + request.url[len(X_HOST) :]
        if not kwargs.get("timeout"):
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def point_at(client: tweepy.Client, base_url: str | None, timeout: float) -> None:
    """Send the client's calls to ``base_url`` instead of tweepy's hard-coded host."""
    client.session.mount(X_HOST, _Redirect(base_url or X_HOST, timeout))


def build_query(brand: BrandQuery, include_retweets: bool, exclude: bool = True) -> str:
    terms = [quoted(k) for k in brand.keywords]
    terms += [f"@{h}" for h in brand.handles] + [f"#{t}" for t in brand.hashtags]
    query = "(" + " OR ".join(terms) + ")" if len(terms) > 1 else (terms[0] if terms else "")
    if exclude:
        query += "".join(f" -{quoted(e)}" for e in brand.exclude)
    if brand.languages:
        langs = [f"lang:{code}" for code in brand.languages]
        query += " " + (langs[0] if len(langs) == 1 else "(" + " OR ".join(langs) + ")")
    if not include_retweets:
        query += " -is:retweet"
    return query.strip()


class XSource(Source):
    platform = "x"
    Settings = XSettings
    settings: XSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = tweepy.Client(
            bearer_token=self.settings.bearer_token, return_type=dict, wait_on_rate_limit=False
        )
        point_at(self.client, self.settings.api_base_url, self.timeout)
        cap_answers(self.client.session)
        self.client.session.hooks["response"].append(self._read_quota)
        self._last_response: requests.Response | None = None
        self._notes: list[Rejection] = []  # problems to report with the next page
        self.queries = {}
        for brand in brand_queries(self.brands):
            query = build_query(
                brand, self.settings.include_retweets, self.settings.exclude_in_query
            )
            if not query:
                continue
            if len(query) > self.settings.max_query_length:
                raise ConfigError(
                    f"sources.{self.name}: the X query for brand {brand.brand!r} is "
                    f"{len(query)} characters, over the {self.settings.max_query_length} "
                    "your access level allows",
                    hint=f"shorten the brand's keywords, or raise sources.{self.name}."
                    "max_query_length",
                )
            self.queries[brand.brand] = query

    def _read_quota(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response = response  # what an unreadable answer is described by
        headers = response.headers
        if "x-rate-limit-remaining" in headers:
            self.note_quota(
                headers.get("x-rate-limit-remaining"),
                headers.get("x-rate-limit-limit"),
                headers.get("x-rate-limit-reset"),
            )

    # -- polling ------------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[Page]:
        self._notes = []
        state = self._load_cursor(cursor)
        for brand, query in self.queries.items():
            yield from self._brand_pages(brand, query, state)

    def _load_cursor(self, cursor: str | None) -> dict[str, dict[str, Any]]:
        try:
            state = json.loads(cursor) if cursor else {}
        except ValueError:
            state = None
        if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
            log.warning("%s: the stored cursor is unreadable; starting from now", self.name)
            return {}
        for brand, mine in state.items():
            bad = [k for k in ("since_id", "pending_newest") if k in mine and not is_id(mine[k])]
            if bad:
                # Written by an older version (or a server's nonsense): X would refuse it on
                # every poll. The brand starts afresh, as with no cursor.
                self._note(
                    f"{brand}: the stored {bad[0]} {clip(mine[bad[0]])} is not a tweet id; "
                    "reading from the newest tweets again"
                )
                state[brand] = {}
        return state

    def _note(self, problem: str) -> None:
        """A problem to report with the next page (counted as rejected, shown by `sources`)."""
        log.warning("%s: %s", self.name, problem)
        self._notes.append(Rejection(problem))

    def _brand_pages(
        self, brand: str, query: str, state: dict[str, dict[str, Any]]
    ) -> Iterator[Page]:
        mine = state.setdefault(brand, {})
        if not mine:
            # A first walk stays a first walk when it is cut short: resuming it must not turn
            # into reading the whole week (X bills per tweet read).
            mine["first"] = True
        self._skip_expired_since_id(brand, mine)
        first = bool(mine.get("first"))
        budget = self.settings.first_poll_pages if first else self.settings.max_pages
        for number in range(1, budget + 1):
            body = self._search(brand, query, mine)
            first = first or bool(mine.get("first"))  # a refused since_id starts afresh
            meta = body.get("meta")
            meta = meta if isinstance(meta, dict) else {}
            token = meta.get("next_token")
            newest = self._newest(brand, body, meta)
            if newest is not None:
                mine.setdefault("pending_newest", newest)  # the newest of this whole search
            last = first and number >= self.settings.first_poll_pages  # a first walk is short
            if isinstance(token, str) and token and not last:
                mine["next_token"] = token
            else:  # the search is done: everything up to its newest tweet is stored
                for key in ("next_token", "first", "start_time"):
                    mine.pop(key, None)
                newest = mine.pop("pending_newest", None)
                if newest is not None:
                    mine["since_id"] = newest
            items = list(x_parser.parse(body)) if body.get("data") else []
            items += self._notes
            self._notes = []
            yield Page(items, json.dumps(state, sort_keys=True), f"brand {brand}, page {number}")
            if "next_token" not in mine:
                return

    def _newest(self, brand: str, body: dict[str, Any], meta: dict[str, Any]) -> str | None:
        """The id since_id may move to: ``meta.newest_id``, or when that is not a tweet id (a
        since_id of forty nines would be sent back on every poll, and refused), the newest
        valid id among the page's tweets."""
        given = meta.get("newest_id")
        if is_id(given):
            return str(given)
        tweets = body.get("data")
        ids = (
            [t["id"] for t in tweets if isinstance(t, dict) and is_id(t.get("id"))]
            if isinstance(tweets, list)
            else []
        )
        if given is not None:
            self._note(
                f"{brand}: X sent meta.newest_id {clip(given)}, not a tweet id; the "
                "cursor moves to the newest tweet on the page instead"
            )
        return max(ids, key=int) if ids else None

    def _skip_expired_since_id(self, brand: str, mine: dict[str, Any]) -> None:
        """Recent search only reaches back 7 days and answers 400 to an older since_id."""
        since = mine.get("since_id")
        if not since or "next_token" in mine:
            return
        now = self.runtime.now()
        posted = tweet_time(str(since))
        if posted is None or posted > now - SEARCH_WINDOW + timedelta(minutes=5):
            return
        start = now - SEARCH_WINDOW + timedelta(minutes=2)
        log.warning(
            "%s: %s: the last tweet read is older than X's 7-day search window; reading from "
            "%s UTC (tweets before that were missed while harken was not polling)",
            self.name,
            brand,
            f"{start:%Y-%m-%d %H:%M}",
        )
        mine.pop("since_id")
        mine["start_time"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _search(self, brand: str, query: str, mine: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_results": self.settings.max_results,
            "expansions": ["author_id"],
            "tweet_fields": TWEET_FIELDS,
            "user_fields": USER_FIELDS,
        }
        if mine.get("since_id"):
            params["since_id"] = mine["since_id"]
        elif mine.get("start_time"):
            params["start_time"] = mine["start_time"]
        if mine.get("next_token"):
            params["next_token"] = mine["next_token"]

        def fetch() -> Any:
            try:
                return self.client.search_recent_tweets(query, **params)
            except tweepy.BadRequest as exc:
                if "since_id" in params and _refuses(exc, "since_id"):
                    raise _SinceRejected(_api_messages(exc)) from exc
                if "next_token" in params:
                    raise _TokenRejected from exc
                raise

        try:
            body = self.call(f"search for {brand}", fetch)
        except _TokenRejected:
            # The page token expired: search again from since_id. No gap; the pages already
            # stored come back as duplicates and are ignored.
            log.warning("%s: page token for %s rejected; restarting the search", self.name, brand)
            mine.pop("next_token", None)
            mine.pop("pending_newest", None)
            return self._search(brand, query, mine)
        except _SinceRejected as exc:
            # Kept, it would fail every poll from now on. Without it the search starts afresh
            # (as with no cursor), so this cannot repeat within the poll.
            self._note(
                f"{brand}: X refused since_id {params['since_id']} ({exc}); reading "
                "from the newest tweets again"
            )
            mine.clear()
            mine["first"] = True
            return self._search(brand, query, mine)
        if not isinstance(body, dict):
            raise TransientSourceError(f"search for {brand}: the response is not a JSON object")
        return body

    # -- engagement ---------------------------------------------------------------------------

    def refresh(self, targets: list[RefreshTarget]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        ids = [t.external_id for t in targets]
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            body = self.call(
                "engagement refresh",
                lambda chunk=chunk: self.client.get_tweets(chunk, tweet_fields=["public_metrics"]),
            )
            for tweet in (body or {}).get("data") or []:
                metrics = tweet.get("public_metrics") or {}
                found[str(tweet.get("id"))] = {
                    "likes": metrics.get("like_count"),
                    "reposts": metrics.get("retweet_count"),
                    "replies": metrics.get("reply_count"),
                    "quotes": metrics.get("quote_count"),
                    "impressions": metrics.get("impression_count"),
                }
        return found

    # -- errors -------------------------------------------------------------------------------

    def translate(self, exc: Exception) -> SourceError | None:
        if isinstance(exc, tweepy.TooManyRequests):
            reset = exc.response.headers.get("x-rate-limit-reset")
            return RateLimited(
                "X: HTTP 429 Too Many Requests", reset_at=parse_reset(reset, self.runtime.now())
            )
        if isinstance(exc, tweepy.TwitterServerError):
            return TransientSourceError(f"X: HTTP {exc.response.status_code} from the server")
        if isinstance(exc, tweepy.Unauthorized | tweepy.Forbidden):
            return SourceError(
                f"X: HTTP {exc.response.status_code}: {_api_messages(exc)}",
                hint="check X_BEARER_TOKEN and your X API access level; `harken doctor` helps",
            )
        if isinstance(exc, tweepy.HTTPException):
            return SourceError(f"X: HTTP {exc.response.status_code}: {_api_messages(exc)}")
        if isinstance(exc, ValueError):
            # requests' JSONDecodeError (a RequestException too): X was reached, and answered
            # something else than JSON: a proxy's or an overloaded front end's HTML page.
            return TransientSourceError(f"X: unreadable answer ({self._last_answer()})")
        if isinstance(exc, requests.RequestException):  # timeouts, resets, truncated bodies
            where = self.settings.api_base_url or X_HOST
            return TransientSourceError(f"X: cannot reach {where} ({type(exc).__name__})")
        return None

    def _last_answer(self) -> str:
        """What the last response was: its content type and size ("text/html, 1,234 bytes")."""
        response = self._last_response
        if response is None:
            return "not JSON"
        kind = response.headers.get("content-type", "no content type").split(";")[0].strip()
        return f"{clip(kind, 40)}, {len(response.content):,} bytes"


def tweet_time(tweet_id: str) -> datetime | None:
    """When a tweet was posted, from its id (a snowflake: milliseconds since 2010-11-04).

    None for ids that carry no time (pre-2010 sequential ids, or not a number).
    """
    try:
        number = int(tweet_id)
        if number < 1 << 40:
            return None
        millis = (number >> 22) + 1288834974657
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


class _TokenRejected(Exception):
    """X refused a stored page token (they expire)."""


class _SinceRejected(Exception):
    """X refused a since_id (not an id, or older than its search window)."""


def is_id(value: Any) -> bool:
    """An X id: the decimal digits of a positive 64-bit signed number (X's snowflakes), as
    the API writes them (a string, no sign, no leading zero)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 19
        and value.isascii()
        and value.isdigit()
        and value[0] != "0"
        and int(value) < 2**63
    )


def _refuses(exc: tweepy.BadRequest, parameter: str) -> bool:
    """Whether X's 400 names ``parameter`` (in an error's ``parameters`` or its message)."""
    for error in exc.api_errors:
        if isinstance(error, dict) and parameter in (error.get("parameters") or {}):
            return True
    return any(parameter in str(message) for message in exc.api_messages)


def _api_messages(exc: tweepy.HTTPException) -> str:
    messages = exc.api_messages or [str(e) for e in exc.api_errors]
    return "; ".join(messages)[:300] or (exc.response.reason or "error")
