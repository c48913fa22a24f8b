"""Mastodon live source: hashtag timelines and statuses search on chosen instances (Mastodon.py).

Per configured instance harken reads

* the timeline of every brand hashtag, ``GET /api/v1/timelines/tag/:tag`` (public on most
  instances, so no token is needed), and
* with ``search: true``, ``GET /api/v2/search?type=statuses&q=<keyword>`` per brand keyword
  (the brand's exclusions appended as ``-"phrase"``). Mastodon only lets signed-in users
  search statuses (and page through results), so this needs ``access_token``.

``instances`` lists base URLs (default ``https://mastodon.social``). ``api_base_url``, when set,
*replaces* the list with that one URL: it is the key every source has for pointing all of its
HTTP somewhere else (a proxy, a test server). An access token belongs to one server, so it is
sent to the **first** instance only, never to the others (they would be handed a credential
valid elsewhere); the others are read anonymously, and search runs on the first one only.

The cursor is JSON: ``{instance URL: {"tag:<name>": {...}, "search:<query>": {...}}}``.

Hashtag timelines page with ``min_id``: Mastodon answers with the statuses *immediately* newer
than ``min_id`` (newest first within the page), so each page moves the cursor to its newest id
and is committed with it; the next page continues from there, and a poll cut short resumes
exactly where it stopped. ``since_id`` would not do: it returns the *newest* page above the
id, so when more than a page arrived between two polls everything between ``since_id`` and
that page would be skipped for good.

Search cannot page that way. Mastodon turns ``min_id`` into ``after:<time of that id>`` and
sorts results newest first, so ``min_id`` acts like ``since_id`` there. Search pages go by
``offset`` from the newest down, like X's page tokens: ``min_id`` (the high-water mark) only
moves once a page comes back empty, i.e. everything since the mark was read; while paging, the
cursor holds ``offset`` and the newest id seen (``pending_newest``). A page is never taken as
the last because it is short: Mastodon drops statuses the token's user has blocked *after*
applying the limit. New statuses arriving mid-way shift results down: they come back as
duplicates, which the store ignores. (``after:`` is cut to the second, so the mark itself comes
back each time: on Mastodon a search costs at least two requests per poll.)

A first poll (no cursor for a timeline or search) stores only the newest page and starts from
its newest id: no backfill of history. Streams no longer configured are dropped from the cursor
(re-added later they start afresh instead of backfilling from an old mark).

Mastodon.py (2.3.3) notes, verified against a local fake:

* Its return values are entity objects: ``created_at`` is a ``datetime`` (the parser rejects
  it as the wrong type), every field it knows is added as ``None``, and ``to_json()`` rewrites
  timestamps. harken parses the raw JSON instead: a response hook on the client's
  ``requests`` session keeps the last response, so the library still builds the request, checks
  the status and raises its errors, and the parser sees what the instance sent, as replay does.
* It looks the server version up lazily (``/api/v1/instance/`` and ``/api/v2/instance/``) before
  a search with ``min_id``/``offset``; when that lookup fails it retries from inside itself
  until Python raises ``RecursionError``, after hundreds of requests. Declaring the version
  (``mastodon_version="2.8.0"``, the oldest with the search parameters used here) means it
  never looks; ``version_check_mode="created"`` because ``"none"`` ignores a declared version
  (and then refuses ``min_id`` as too new) and ``"changed"`` refuses both endpoints (it wants
  the version each last changed in: 3.1.4, 4.6.0). ``timeline()`` still asks
  ``/api/v2/instance/`` whether hashtag feeds are public: once, cached (asked again before
  every call while it fails; a failure is ignored).
* ``ratelimit_method="throw"``: the default ``"wait"`` sleeps inside the library (up to five
  minutes per call) where harken's policy cannot see or stop it. The 429 it raises carries no
  response, so the reset comes from the hook's last response (``X-RateLimit-Reset``, ISO 8601).
  Its ``ratelimit_remaining``/``ratelimit_limit`` attributes start at 300 before any header
  and ``ratelimit_reset`` is shifted to the local wall clock, so quotas are read from the
  headers too.
* ``request_timeout`` defaults to 300 s; it is set from ``timeout``.
* A garbled body raises ``MastodonAPIError("Could not parse response as JSON ...")`` (no status
  code among its arguments; harken retries it); timeouts and refused connections raise
  ``MastodonNetworkError``.
* An error's ``{"error": ...}`` text is lost on endpoints that return lists (the library casts
  the error body to the endpoint's return type), so it is read from the raw response.
* An ``X-RateLimit-Reset`` it cannot parse makes it raise its rate-limit error even on a 200;
  harken treats that as a transient failure, not a rate limit.
* ``access_token`` that names an existing file is read as a token file by the library.

``refresh()`` re-reads likes, boosts and replies with ``GET /api/v1/statuses/:id``. Mentions are
stored under the status ``uri`` (global); the id in the raw JSON is local to the instance it was
read from, which is not recorded, so each configured instance is asked in turn and an answer
counts only if its ``uri`` is the stored one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from pydantic import Field, ValidationInfo, field_validator

from harken import __version__
from harken.config import Duration, StrList
from harken.errors import ConfigError, RateLimited, SourceError, TransientSourceError
from harken.net.limits import cap_answers
from harken.platforms.base import metrics_of
from harken.platforms.mastodon import parse as mastodon_parser
from harken.platforms.query import brand_queries, quoted
from harken.platforms.source import Page, RefreshTarget, Source, SourceSettings, parse_reset

log = logging.getLogger(__name__)

DEFAULT_INSTANCE = "https://mastodon.social"
# The oldest Mastodon with v2 search, min_id and offset; declared so Mastodon.py never looks
# the version up (see the module docstring).
DECLARED_VERSION = "2.8.0"


def instance_url(value: str) -> str:
    """A base URL as Mastodon.py uses it: with a scheme (https by default), no trailing slash."""
    url = value.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(f"{value!r} is not an instance URL like https://mastodon.social")
    return url


def make_client(url: str, token: str | None, timeout: float, session: requests.Session) -> Mastodon:
    """A Mastodon.py client that never sleeps or looks the version up (module docstring)."""
    return Mastodon(
        api_base_url=url,
        access_token=token,
        ratelimit_method="throw",
        request_timeout=timeout,
        mastodon_version=DECLARED_VERSION,
        version_check_mode="created",
        session=session,
        user_agent=f"harken/{__version__}",
    )


class MastodonSettings(SourceSettings):
    instances: StrList = Field(default_factory=lambda: [DEFAULT_INSTANCE])
    search: bool = False  # also search statuses for each brand keyword (needs access_token)
    access_token: str | None = Field(default=None, validate_default=True)
    limit: int = Field(default=40, ge=1, le=40)  # statuses per page (the API allows 40)
    max_pages: int = Field(default=10, ge=1)  # per timeline or search and poll
    # The live stream (stream: true): no heartbeat for this long means a dead connection.
    stream_idle: Duration = timedelta(seconds=60)
    # Also stream a timeline, keeping the statuses that name a brand: "public" (every public
    # status the instance knows, the federated timeline) or "local" (its own users'); "none":
    # the brands' hashtags only.
    stream_timeline: Literal["none", "public", "local"] = "none"

    @field_validator("instances")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        urls = list(dict.fromkeys(instance_url(v) for v in value))
        if not urls:
            raise ValueError("list at least one instance, like https://mastodon.social")
        return urls

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return instance_url(value) if value else None

    @field_validator("access_token")
    @classmethod
    def _token_for_search(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("search") and not value:
            raise ValueError(
                "search: true needs an access token (Mastodon only lets signed-in users "
                "search statuses)"
            )
        return value or None


@dataclass
class _Instance:
    url: str
    client: Mastodon
    signed_in: bool

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


class MastodonSource(Source):
    platform = "mastodon"
    Settings = MastodonSettings
    settings: MastodonSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The response a request just got, per thread: the daemon may refresh engagement
        # while a poll of the same source runs, and the hook runs in the requesting thread.
        self._seen = threading.local()
        urls = [self.settings.api_base_url] if self.settings.api_base_url else []
        urls = urls or self.settings.instances
        token = self.settings.access_token
        self.instances = [
            self._instance(url, token if i == 0 else None) for i, url in enumerate(urls)
        ]
        self.tags: list[str] = []
        self.searches: list[str] = []
        for brand in brand_queries(self.brands):
            self.tags += [t.strip().lower() for t in brand.hashtags]
            if self.settings.search:
                exclude = "".join(f" -{quoted(e)}" for e in brand.exclude)
                self.searches += [quoted(k) + exclude for k in brand.keywords]
        self.tags = list(dict.fromkeys(t for t in self.tags if t))
        self.searches = list(dict.fromkeys(self.searches))
        if not self.tags and not self.searches:
            raise ConfigError(
                f"sources.{self.name}: nothing to listen for on Mastodon",
                hint="give the brands hashtags, or set search: true with an access_token",
            )

    def _instance(self, url: str, token: str | None) -> _Instance:
        session = requests.Session()
        cap_answers(session)
        session.hooks["response"].append(self._on_response)
        client = make_client(url, token, self.timeout, session)
        return _Instance(url, client, signed_in=token is not None)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Runs inside the library's request: anything raised here would become a network error.
        self._seen.response = response
        headers = response.headers
        if "X-RateLimit-Remaining" in headers:
            self.note_quota(
                headers.get("X-RateLimit-Remaining"),
                headers.get("X-RateLimit-Limit"),
                headers.get("X-RateLimit-Reset"),
            )

    @property
    def _last_response(self) -> requests.Response | None:
        return getattr(self._seen, "response", None)

    # -- polling ------------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[Page]:
        state = self._load_state(cursor)
        for inst in self.instances:
            mine = state[inst.url]
            for tag in self.tags:
                yield from self._tag_pages(inst, tag, mine.setdefault(f"tag:{tag}", {}), state)
            if inst.signed_in:
                for query in self.searches:
                    mark = mine.setdefault(f"search:{query}", {})
                    yield from self._search_pages(inst, query, mark, state)

    def _load_state(self, cursor: str | None) -> dict[str, dict[str, dict[str, Any]]]:
        """The stored cursor, keeping only the instances and streams still configured."""
        try:
            old = json.loads(cursor) if cursor else {}
        except ValueError:
            log.warning("%s: unreadable cursor; starting afresh", self.name)
            old = {}
        old = old if isinstance(old, dict) else {}
        state = {}
        for inst in self.instances:
            keys = {f"tag:{t}" for t in self.tags}
            keys |= {f"search:{q}" for q in self.searches} if inst.signed_in else set()
            before = old.get(inst.url)
            before = before if isinstance(before, dict) else {}
            state[inst.url] = {
                k: dict(v) for k, v in before.items() if k in keys and isinstance(v, dict)
            }
        return state

    def _tag_pages(
        self, inst: _Instance, tag: str, mark: dict[str, Any], state: dict[str, Any]
    ) -> Iterator[Page]:
        first_poll = "min_id" not in mark
        limit = self.settings.limit
        for number in range(1, self.settings.max_pages + 1):
            min_id = mark.get("min_id")
            statuses = self._timeline(inst, tag, min_id)
            newest = _newest_id(statuses)
            advanced = newest is not None and _newer(newest, min_id)
            if advanced:
                mark["min_id"] = newest
            label = f"{inst.host} #{tag}, page {number}"
            yield Page(list(mastodon_parser.parse(statuses)), _dump(state), label)
            # A short page is the newest there is (nothing is lost by stopping: the next
            # poll goes on from min_id); no progress means the server ignores min_id.
            if first_poll or not advanced or len(statuses) < limit:
                return

    def _search_pages(
        self, inst: _Instance, query: str, mark: dict[str, Any], state: dict[str, Any]
    ) -> Iterator[Page]:
        first_poll = "min_id" not in mark and "offset" not in mark
        limit = self.settings.limit
        previous: set[str] = set()
        for number in range(1, self.settings.max_pages + 1):
            min_id, offset = mark.get("min_id"), int(mark.get("offset") or 0)
            statuses = self._search(inst, query, min_id, offset)
            ids = {str(s["id"]) for s in statuses if _has_id(s)}
            newest = _newest_id(statuses)
            if newest is not None and _newer(newest, mark.get("pending_newest")):
                mark["pending_newest"] = newest
            # An empty page ends the search; so does a page seen already (offset ignored).
            done = first_poll or not statuses or ids <= previous
            if done:
                mark.pop("offset", None)
                high = mark.pop("pending_newest", None)
                if high is not None and _newer(high, min_id):
                    mark["min_id"] = high
            else:
                mark["offset"] = offset + limit  # the server's offset counts before filtering
            label = f"{inst.host} search {query}, page {number}"
            yield Page(list(mastodon_parser.parse(statuses)), _dump(state), label)
            if done:
                return
            previous = ids

    def _timeline(self, inst: _Instance, tag: str, min_id: str | None) -> list[Any]:
        def request(client: Mastodon) -> object:
            return client.timeline_hashtag(
                quote(tag, safe=""), min_id=min_id, limit=self.settings.limit
            )

        return self._fetch(inst, f"#{tag} timeline", request, _status_list)

    def _search(self, inst: _Instance, query: str, min_id: str | None, offset: int) -> list[Any]:
        def request(client: Mastodon) -> object:
            return client.search_v2(
                query,
                resolve=False,  # no webfinger lookups (and anonymous resolve is a 401)
                result_type="statuses",
                min_id=min_id,
                offset=offset or None,  # Mastodon refuses any offset, even 0, anonymously
                limit=self.settings.limit,
                exclude_unreviewed=False,  # about hashtags; True makes the library check
            )

        return self._fetch(inst, f"search {query}", request, _search_statuses)

    def _fetch(
        self,
        inst: _Instance,
        what: str,
        request: Callable[[Mastodon], object],
        shape: Callable[[Any, str], list[Any]],
    ) -> list[Any]:
        """The raw JSON statuses of one request, under the retry and rate-limit policy."""

        def attempt() -> list[Any]:
            self._seen.response = None
            request(inst.client)  # its entity objects are not what the parser reads
            return shape(_raw_json(self._last_response, what), what)

        return self.call(f"{inst.host} {what}", attempt)

    # -- engagement ---------------------------------------------------------------------------

    def refresh(self, targets: list[RefreshTarget]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for target in targets:
            local_id = target.raw.get("id")
            if not isinstance(local_id, str | int) or isinstance(local_id, bool):
                continue
            for inst in self.instances:
                status = self._status(inst, str(local_id))
                if isinstance(status, dict) and status.get("uri") == target.external_id:
                    found[target.external_id] = metrics_of(
                        likes=status.get("favourites_count"),
                        reposts=status.get("reblogs_count"),
                        replies=status.get("replies_count"),
                    )
                    break
        return found

    def _status(self, inst: _Instance, local_id: str) -> Any:
        def attempt() -> Any:
            self._seen.response = None
            try:
                inst.client.status(quote(local_id, safe=""))
            except MastodonNotFoundError:
                return None  # deleted, or never seen by this instance
            return _raw_json(self._last_response, "status")

        return self.call(f"{inst.host} engagement refresh", attempt)

    # -- errors -------------------------------------------------------------------------------

    def translate(self, exc: Exception) -> SourceError | None:
        if isinstance(exc, MastodonRatelimitError):
            return self._rate_limited(exc)
        if isinstance(exc, MastodonNetworkError):
            return TransientSourceError("Mastodon: cannot reach the instance (timeout or refused)")
        if isinstance(exc, MastodonServerError):
            return TransientSourceError(f"Mastodon: HTTP {status_code(exc)} from the server")
        if isinstance(exc, MastodonUnauthorizedError):
            return SourceError(
                f"Mastodon: HTTP 401: {self._api_message(exc)}", hint=self._token_hint()
            )
        if isinstance(exc, MastodonAPIError):
            status = status_code(exc)
            if status is None:  # "Could not parse response as JSON"
                return TransientSourceError("Mastodon: the response is not valid JSON")
            if status == 408:
                return TransientSourceError("Mastodon: HTTP 408 (request timeout)")
            if status == 403:
                return SourceError(
                    f"Mastodon: HTTP 403: {self._api_message(exc)}",
                    hint=f"the instance refuses this request; {self._token_hint()}",
                )
            return SourceError(f"Mastodon: HTTP {status}: {self._api_message(exc)}")
        if isinstance(exc, MastodonError):
            return SourceError(f"Mastodon: {type(exc).__name__}: {str(exc)[:300]}")
        return None

    def _api_message(self, exc: MastodonAPIError) -> str:
        """The server's ``error`` text. Mastodon.py loses it on endpoints returning lists (it
        casts the error body to the endpoint's return type), so the raw response comes first."""
        message = None
        response = self._last_response
        if response is not None and response.status_code == status_code(exc):
            try:
                body = response.json()
            except ValueError:
                body = None
            message = body.get("error") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            message = exc.args[3] if len(exc.args) > 3 else None
        reason = exc.args[2] if len(exc.args) > 2 else None
        return str(message or reason or "error")[:300]

    def _token_hint(self) -> str:
        response = self._last_response
        sent = response is not None and "Authorization" in response.request.headers
        if sent:
            return "check access_token (MASTODON_ACCESS_TOKEN): it must be valid, with scope read"
        return (
            "this instance wants a signed-in user: set access_token (MASTODON_ACCESS_TOKEN) to "
            "a token of an account there, and list it first (only the first gets the token)"
        )

    def _rate_limited(self, exc: MastodonRatelimitError) -> SourceError:
        response = self._last_response
        if response is not None and response.status_code != 429:
            # The library could not read a 2xx response's X-RateLimit-Reset header.
            return TransientSourceError(f"Mastodon: unreadable rate-limit headers ({exc})")
        headers = response.headers if response is not None else {}
        reset = headers.get("X-RateLimit-Reset") or headers.get("Retry-After")
        return RateLimited(
            "Mastodon: HTTP 429 Too Many Requests",
            reset_at=parse_reset(reset, self.runtime.now()),
        )


def _raw_json(response: requests.Response | None, what: str) -> Any:
    if response is None:  # cannot happen when the library returned: it had a response
        raise TransientSourceError(f"Mastodon: {what}: no response was seen")
    try:
        return response.json()
    except ValueError as exc:
        raise TransientSourceError(f"Mastodon: {what}: the response is not valid JSON") from exc


def _status_list(body: Any, what: str) -> list[Any]:
    if not isinstance(body, list):
        raise TransientSourceError(f"Mastodon: {what}: expected a list of statuses")
    return body


def _search_statuses(body: Any, what: str) -> list[Any]:
    statuses = body.get("statuses") if isinstance(body, dict) else None
    if not isinstance(statuses, list):
        raise TransientSourceError(f"Mastodon: {what}: expected search results with statuses")
    return statuses


def _has_id(status: Any) -> bool:
    if not isinstance(status, dict):
        return False
    value = status.get("id")
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value) != ""


def _id_order(value: str) -> tuple[int, str]:
    # Mastodon ids are decimal snowflakes, Pleroma's and GoToSocial's fixed-length sortable
    # strings: longer is newer, then lexical order.
    return len(value), value


def _newer(candidate: str, than: Any) -> bool:
    return than is None or _id_order(candidate) > _id_order(str(than))


def _newest_id(statuses: list[Any]) -> str | None:
    ids = [str(s["id"]) for s in statuses if _has_id(s)]
    return max(ids, key=_id_order) if ids else None


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True)


def status_code(exc: Exception) -> int | None:
    """The HTTP status of a Mastodon.py error, when it carries one."""
    # The library raises ('Mastodon API returned error', status, reason, message).
    status = exc.args[1] if len(exc.args) > 1 else None
    return status if isinstance(status, int) else None
