"""YouTube live source: comments through the YouTube Data API v3 (google-api-python-client,
its bundled discovery document: nothing is fetched but the calls themselves).

**What it reads.** Per brand, ``commentThreads.list`` (newest first) of:

* each of the brand's own channels in ``channels`` (``allThreadsRelatedToChannelId``: every
  comment on any of its videos),
* each video in ``videos``, and, with ``search: true``, the brand's recent videos found by
  ``search.list`` (every ``search_every``; videos published within ``search_window``, at most
  ``max_videos`` a brand; older ones are let go).

Comments there are about the brand by where they were posted, so they are kept even when they
do not name it (``MentionRecord.about``). A thread is its top-level comment and the replies the
API includes with it (up to five; a reply added later to an old thread is not read again).

**Quota.** Every call costs units of the key's daily quota (10,000 by default; a thread page 1,
a search ``search_cost``, 100), which resets at midnight Pacific time. The units used today are
kept in the cursor; a call that would go past ``daily_quota - quota_reserve`` ends the poll as
rate limited until the reset, as does the API's own ``quotaExceeded``. `harken sources` shows
what is left.

**Cursor.** JSON: the quota day and units used; per stream (``channel:ID``, ``video:ID``) the
newest comment time stored (``newest``) and, while a walk is paged through, its page token
(``page``) and the newest time of that walk (``pending``): a poll cut short resumes from the
token, and ``newest`` moves once the walk is done. A first walk reads ``first_poll_pages``
pages. A video whose comments are off or that is gone is dropped from the watch list, with a
warning.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator

from harken.config import Duration, StrList
from harken.errors import ConfigError, PayloadError, RateLimited, SourceError, TransientSourceError
from harken.platforms.base import parse_time
from harken.platforms.source import Page, Source, SourceSettings
from harken.platforms.youtube import parse as youtube_parser
from harken.records import MentionRecord

log = logging.getLogger(__name__)

GOOGLE_APIS = "https://www.googleapis.com"
PACIFIC = ZoneInfo("America/Los_Angeles")  # where YouTube's quota day ends
GONE = ("commentsDisabled", "videoNotFound", "channelNotFound", "forbidden")


class YouTubeSettings(SourceSettings):
    api_base_url: str | None = GOOGLE_APIS
    interval: Duration = timedelta(minutes=15)
    api_key: SecretStr | None = Field(default=None, validate_default=True)
    channels: dict[str, StrList] = Field(default_factory=dict)  # brand -> own channel ids
    videos: dict[str, StrList] = Field(default_factory=dict)  # brand -> more videos to watch
    search: bool = True  # find the brand's recent videos by search.list
    search_every: Duration = timedelta(hours=6)
    search_window: Duration = timedelta(days=7)
    max_videos: int = Field(default=25, ge=1, le=50)  # per brand, from search
    max_pages: int = Field(default=5, ge=1)  # per stream and poll
    first_poll_pages: int = Field(default=1, ge=1)
    daily_quota: int = Field(default=10_000, ge=1)
    quota_reserve: int = Field(default=500, ge=0)  # units left for whatever else uses the key
    search_cost: int = Field(default=100, ge=1)

    @field_validator("api_key")
    @classmethod
    def _key_needed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            raise ValueError(
                "YouTube needs an API key, made in the Google Cloud console (APIs & Services, "
                "YouTube Data API v3, Credentials); give it as the variable YOUTUBE_API_KEY"
            )
        return value


def quota_day(now: datetime) -> date:
    return now.astimezone(PACIFIC).date()


def quota_reset(now: datetime) -> datetime:
    """The next midnight, Pacific time, in UTC."""
    tomorrow = quota_day(now) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), PACIFIC).astimezone(UTC)


class YouTubeSource(Source):
    platform = "youtube"
    Settings = YouTubeSettings
    settings: YouTubeSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        known = {b.name for b in self.brands}
        for key in ("channels", "videos"):
            unknown = [b for b in getattr(self.settings, key) if b not in known]
            if unknown:
                raise ConfigError(
                    f"sources.{self.name}.{key}: {unknown[0]!r} is not a brand",
                    hint=f"name one of: {', '.join(sorted(known)) or 'no brands configured'}",
                )
        self.client = self._client()
        self.state: dict[str, Any] = {}

    def _client(self) -> Any:
        import httplib2
        from googleapiclient.discovery import build

        # Its INFO log line is the whole URL, API key included.
        logging.getLogger("googleapiclient.discovery").setLevel(logging.WARNING)
        assert self.settings.api_key is not None
        return build(
            "youtube",
            "v3",
            developerKey=self.settings.api_key.get_secret_value(),
            static_discovery=True,
            cache_discovery=False,
            client_options={
                "api_endpoint": (self.settings.api_base_url or GOOGLE_APIS).rstrip("/")
            },
            http=httplib2.Http(timeout=self.timeout),
        )

    def close(self) -> None:
        self.client.close()  # httplib2 keeps its connections open otherwise

    # -- the cursor -------------------------------------------------------------------------

    def _load(self, cursor: str | None) -> dict[str, Any]:
        try:
            state = json.loads(cursor) if cursor else {}
        except ValueError:
            state = None
        if not isinstance(state, dict):
            log.warning("%s: the stored cursor is unreadable; starting from now", self.name)
            state = {}
        for key in ("streams", "videos", "searched"):
            if not isinstance(state.get(key), dict):
                state[key] = {}
        quota = state.get("quota")
        today = quota_day(self.runtime.now()).isoformat()
        if not isinstance(quota, dict) or quota.get("day") != today:
            state["quota"] = {"day": today, "used": 0}
        return state

    def _cursor(self) -> str:
        return json.dumps(self.state, sort_keys=True)

    def _spend(self, units: int, what: str) -> None:
        """Count a call's units, or end the poll when they would go past the allowance."""
        quota = self.state["quota"]
        allowed = self.settings.daily_quota - self.settings.quota_reserve
        if quota["used"] + units > allowed:
            now = self.runtime.now()
            raise RateLimited(
                f"{self.name}: {what}: {quota['used']} of the {self.settings.daily_quota} "
                f"daily units used (quota_reserve {self.settings.quota_reserve})",
                reset_at=quota_reset(now),
                hint="YouTube's quota resets at midnight Pacific time; ask Google for more, or "
                "poll less often (interval, search_every)",
            )
        quota["used"] += units
        self._note_quota()

    def _note_quota(self) -> None:
        used = self.state["quota"]["used"]
        now = self.runtime.now()
        self.note_quota(
            self.settings.daily_quota - used,
            self.settings.daily_quota,
            quota_reset(now).isoformat(),
        )

    # -- polling ----------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[Page]:
        self.state = self._load(cursor)
        self._note_quota()
        if self.settings.search:
            yield from self._searches()
        for stream, brand in self._streams():
            yield from self._walk(stream, brand)

    def _streams(self) -> list[tuple[str, str]]:
        """(stream, brand): the channels, the configured videos, the videos search found."""
        streams = [
            (f"channel:{c}", brand) for brand, ids in self.settings.channels.items() for c in ids
        ]
        streams += [
            (f"video:{v}", brand) for brand, ids in self.settings.videos.items() for v in ids
        ]
        streams += [(f"video:{v}", w["brand"]) for v, w in self.state["videos"].items()]
        unique = dict(streams)  # a video both configured and found: once
        for stream in list(self.state["streams"]):
            if stream not in unique:
                del self.state["streams"][stream]  # removed from the config, or let go
        return list(unique.items())

    def _searches(self) -> Iterator[Page]:
        now = self.runtime.now()
        since = now - self.settings.search_window
        for brand in self.brands:
            terms = [*brand.keywords, *(h.lstrip("@") for h in brand.handles)]
            terms = list({t.casefold(): t for t in map(_phrase, terms) if t}.values())
            last = self.state["searched"].get(brand.name)
            if not terms or (last and now - _time(last) < self.settings.search_every):
                continue
            query = "|".join(f'"{t}"' for t in terms[:10])  # search.list: | is OR
            self._spend(self.settings.search_cost, f"search for {brand.name}'s videos")
            request = self.client.search().list(
                part="snippet",
                q=query,
                type="video",
                order="date",
                publishedAfter=since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                maxResults=self.settings.max_videos,
            )
            body = self.call(f"search {brand.name}", lambda request=request: self._execute(request))
            found = 0
            for item in body.get("items") or []:
                video = ((item or {}).get("id") or {}).get("videoId")
                published = ((item or {}).get("snippet") or {}).get("publishedAt")
                if isinstance(video, str) and video and isinstance(published, str):
                    self.state["videos"].setdefault(
                        video, {"brand": brand.name, "published": published}
                    )
                    found += 1
            self._let_go(brand.name, since)
            self.state["searched"][brand.name] = now.isoformat()
            yield Page([], self._cursor(), label=f"brand {brand.name}: search found {found} videos")

    def _let_go(self, brand: str, since: datetime) -> None:
        """Keep the newest max_videos videos of the brand published within the window."""
        mine = sorted(
            ((v, w) for v, w in self.state["videos"].items() if w.get("brand") == brand),
            key=lambda vw: str(vw[1].get("published", "")),
            reverse=True,
        )
        for rank, (video, watched) in enumerate(mine):
            try:
                old = _time(watched.get("published")) < since
            except PayloadError:
                old = True
            if old or rank >= self.settings.max_videos:
                del self.state["videos"][video]

    def _walk(self, stream: str, brand: str) -> Iterator[Page]:
        mine = self.state["streams"].setdefault(stream, {})
        first = "newest" not in mine
        budget = self.settings.first_poll_pages if first else self.settings.max_pages
        kind, _, ident = stream.partition(":")
        for number in range(1, budget + 1):
            label = f"brand {brand}, {kind} {ident}, page {number}"
            self._spend(1, label)
            args: dict[str, Any] = {
                "part": "snippet,replies",
                "order": "time",
                "maxResults": 100,
                "textFormat": "plainText",
            }
            args["allThreadsRelatedToChannelId" if kind == "channel" else "videoId"] = ident
            if mine.get("page"):
                args["pageToken"] = mine["page"]
            request = self.client.commentThreads().list(**args)
            body = self.call(label, lambda request=request: self._execute(request))
            if "gone" in body:
                log.warning(
                    "%s: %s %s: %s; no longer watched", self.name, kind, ident, body["gone"]
                )
                self.state["videos"].pop(ident, None)
                self.state["streams"].pop(stream, None)
                yield Page([], self._cursor(), label=f"{label}: {body['gone']}")
                return
            items = [
                replace(r, about=brand) if isinstance(r, MentionRecord) else r
                for r in youtube_parser.parse(body)
            ]
            top = _newest(body)
            newest = _time(mine["newest"]) if "newest" in mine else None
            caught_up = newest is not None and _oldest(body) is not None and _oldest(body) <= newest
            if top is not None and (mine.get("pending") is None or top > _time(mine["pending"])):
                mine["pending"] = top.isoformat()
            token = body.get("nextPageToken")
            # A first walk ends at its budget; a later one resumes from its token next poll.
            done = caught_up or not token or (first and number == budget)
            if done:
                if mine.get("pending"):
                    mine["newest"] = max(
                        _time(mine["pending"]), newest or _time(mine["pending"])
                    ).isoformat()
                elif newest is None:
                    mine["newest"] = self.runtime.now().isoformat()
                mine.pop("page", None)
                mine.pop("pending", None)
            else:
                mine["page"] = token
            yield Page(items, self._cursor(), label=label)
            if done:
                return

    def _execute(self, request: Any) -> dict[str, Any]:
        """One call; a video or channel whose comments cannot be read is ``{"gone": why}``."""
        from googleapiclient.errors import HttpError

        try:
            body = request.execute(num_retries=0)
        except HttpError as err:
            reason = _reason(err)
            if reason in GONE and int(err.resp.status) in (403, 404):
                return {"gone": reason}
            raise
        if not isinstance(body, dict):
            raise TransientSourceError(f"{self.name}: the answer is not a JSON object")
        return body

    def translate(self, exc: Exception) -> SourceError | None:
        from googleapiclient.errors import HttpError

        if isinstance(exc, HttpError):
            status, reason = int(exc.resp.status), _reason(exc)
            what = f"{self.name}: YouTube answered HTTP {status}" + (
                f" ({reason})" if reason else ""
            )
            if reason in ("quotaExceeded", "dailyLimitExceeded"):
                self.state.get("quota", {})["used"] = self.settings.daily_quota
                return RateLimited(what, reset_at=quota_reset(self.runtime.now()))
            if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
                return RateLimited(what)
            if status >= 500:
                return TransientSourceError(what)
            if reason in (
                "keyInvalid",
                "badRequest",
                "keyExpired",
                "accessNotConfigured",
            ) or status in (400, 401, 403):
                return SourceError(
                    what,
                    hint=f"check sources.{self.name}.api_key (YOUTUBE_API_KEY) and that the "
                    "YouTube Data API v3 is enabled for its project",
                )
            return SourceError(what)
        if isinstance(exc, (socket.timeout, TimeoutError, ConnectionError, OSError)):
            return TransientSourceError(f"{self.name}: {type(exc).__name__}: {exc}")
        if isinstance(exc, ValueError):  # httplib2/json: a garbled answer
            return TransientSourceError(f"{self.name}: an unreadable answer ({exc})")
        return None


def _phrase(term: str) -> str:
    """A term as a quoted phrase's inside: no double quotes, spaces collapsed."""
    return " ".join(term.replace('"', " ").split())


def _reason(err: Any) -> str:
    """The error's reason code ("quotaExceeded"), read from its body as the API sends it."""
    try:
        body = json.loads(err.content)
        errors = body["error"].get("errors") or []
        return str(errors[0].get("reason", "")) if errors else ""
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return ""


def _time(value: Any) -> datetime:
    return parse_time(value, "time")


def _published(item: Any) -> datetime | None:
    try:
        snippet = item["snippet"]["topLevelComment"]["snippet"]
        return parse_time(snippet["publishedAt"], "publishedAt")
    except (KeyError, TypeError, PayloadError):
        return None


def _newest(body: dict[str, Any]) -> datetime | None:
    times = [t for t in map(_published, body.get("items") or []) if t is not None]
    return max(times) if times else None


def _oldest(body: dict[str, Any]) -> datetime | None:
    times = [t for t in map(_published, body.get("items") or []) if t is not None]
    return min(times) if times else None
