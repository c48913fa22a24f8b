"""YouTube live source: comments through the YouTube Data API v3 (google-api-python-client,
its bundled discovery document: nothing is fetched but the calls themselves).

**What it reads.** Per brand, ``commentThreads.list`` (newest first) of:

* each of the brand's own channels in ``channels`` (``allThreadsRelatedToChannelId``: every
  comment on any of its videos),
* each video in ``videos``, and, with ``search: true``, the brand's recent videos found by
  ``search.list`` (every ``search_every``; videos published within ``search_window``, at most
  ``max_videos`` a brand; older ones are let go).

Comments on the brand's own channels and on the configured videos are about the brand by where
they were posted, so they are kept even when they do not name it (``MentionRecord.about``);
those on videos found by search must name it, as any post (search matches other channels'
videos too: an "acme anvil" cartoon). Comments by the brand's own channels are its answers:
marked ``own``, they mark the comments they answer responded (and are not queued). A thread is
its top-level comment and the replies the API includes with it (five at most); when it has
more, the newest 100 are read with ``comments.list`` (a unit a thread). A reply added later to
a thread already read is found by the recheck: every ``recheck_every``, after all the walks,
the pages after the one each walk stopped at are read again (four at most: the 500 threads a
stream remembers), and a thread of the last ``reply_window`` whose ``totalReplyCount`` moved is
read (its replies as above).

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
warning; a channel that cannot be read is an error to fix. A stored cursor's unreadable
entries are dropped (with a warning), not the poll.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator

from harken.config import Duration, StrList
from harken.errors import ConfigError, PayloadError, RateLimited, SourceError, TransientSourceError
from harken.platforms.base import ParseResult, parse_time
from harken.platforms.source import Page, Source, SourceSettings
from harken.platforms.youtube import parse as youtube_parser
from harken.records import MentionRecord

log = logging.getLogger(__name__)

GOOGLE_APIS = "https://www.googleapis.com"
PACIFIC = ZoneInfo("America/Los_Angeles")  # where YouTube's quota day ends
# A video whose comments cannot be read (off, or the video gone): let go, not an error. A
# channel never is: a wrong channel id, or a key that may not read it, is for a person to fix.
GONE = ("commentsDisabled", "videoNotFound")
MAX_THREADS = 500  # reply counts remembered per stream, for the recheck
RECHECK_PAGES = 4  # pages a recheck reads after the walk's first: the 500 threads remembered


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
    # Late replies: every recheck_every the first pages of each stream are read again, and a
    # thread of the last reply_window whose reply count moved has its replies read (a unit a
    # page, within the quota). 0 turns it off.
    recheck_every: Duration = timedelta(hours=1)
    reply_window: Duration = timedelta(days=7)
    # Replies (harken/platforms/youtube/reply.py): an OAuth client and the refresh token of
    # the brand channel's Google account; reading needs only the API key.
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_uri: str = "https://oauth2.googleapis.com/token"

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
        # channel id -> brand: comments by these channels are the brand's own answers
        self.own_channels = {c: b for b, ids in self.settings.channels.items() for c in ids}

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
        """The stored state; what has the wrong shape is dropped, with a warning, so that a
        bad cursor cannot fail every poll (a stream dropped starts again as a first walk)."""
        try:
            state = json.loads(cursor) if cursor else {}
        except ValueError:
            state = None
        if not isinstance(state, dict):
            log.warning("%s: the stored cursor is unreadable; starting from now", self.name)
            state = {}
        streams = _entries(state.get("streams"), _is_stream_state)
        for mine in streams.values():  # the recheck's entries: kept only when well formed
            threads = mine.get("threads")
            if "threads" in mine:
                mine["threads"] = _entries(threads, _is_thread_count)
            if "rechecked" in mine and not (
                isinstance(mine["rechecked"], str) and _readable(mine["rechecked"])
            ):
                del mine["rechecked"]
        videos = _entries(state.get("videos"), _is_found_video)
        searched = _entries(state.get("searched"), lambda v: isinstance(v, str) and _readable(v))
        dropped = sum(
            len(given) - len(kept)
            for given, kept in (
                (state.get("streams"), streams),
                (state.get("videos"), videos),
                (state.get("searched"), searched),
            )
            if isinstance(given, dict)
        )
        if dropped:
            log.warning(
                "%s: %d unreadable entries of the stored cursor dropped", self.name, dropped
            )
        stored = state.get("quota")
        quota: dict[str, Any] = stored if isinstance(stored, dict) else {}
        today = quota_day(self.runtime.now()).isoformat()
        used = quota.get("used")
        if quota.get("day") != today or type(used) is not int or used < 0:
            quota = {"day": today, "used": 0}
        return {"streams": streams, "videos": videos, "searched": searched, "quota": quota}

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
        self._let_go_all()
        self._after_walk: dict[str, str | None] = {}  # where each walk stopped, this poll
        streams = self._streams()
        for stream, brand, owned in streams:
            yield from self._walk(stream, brand, owned)
        for stream, brand, owned in streams:  # new comments first, then the old threads
            yield from self._recheck(stream, brand, owned)

    def _streams(self) -> list[tuple[str, str, bool]]:
        """(stream, brand, owned): the brand's channels and configured videos (owned: their
        comments are about the brand by where they are), then the videos search found (their
        comments must name the brand)."""
        streams: dict[str, tuple[str, bool]] = {}
        for video, found in self.state["videos"].items():
            streams[f"video:{video}"] = (found["brand"], False)
        for brand, ids in self.settings.videos.items():
            streams.update({f"video:{v}": (brand, True) for v in ids})
        for brand, ids in self.settings.channels.items():
            streams.update({f"channel:{c}": (brand, True) for c in ids})
        for stream in list(self.state["streams"]):
            if stream not in streams:
                del self.state["streams"][stream]  # removed from the config, or let go
        return [(stream, brand, owned) for stream, (brand, owned) in streams.items()]

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
            excluded = [p for p in map(_phrase, brand.exclude) if p][:10]
            query += "".join(f' -"{p}"' for p in excluded)
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
                snippet = (item or {}).get("snippet") or {}
                published = snippet.get("publishedAt")
                if snippet.get("channelId") in self.own_channels:
                    continue  # read through its channel already
                if (
                    isinstance(video, str)
                    and video
                    and isinstance(published, str)
                    and _readable(published)
                ):
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
            if _time(watched["published"]) < since or rank >= self.settings.max_videos:
                del self.state["videos"][video]

    def _let_go_all(self) -> None:
        """Each poll: found videos past the window go, and all of them when search is off or
        their brand is no longer configured."""
        brands = {b.name for b in self.brands} if self.settings.search else set()
        for video, found in list(self.state["videos"].items()):
            if found["brand"] not in brands:
                del self.state["videos"][video]
        since = self.runtime.now() - self.settings.search_window
        for brand in brands:
            self._let_go(brand, since)

    def _walk(self, stream: str, brand: str, owned: bool) -> Iterator[Page]:
        mine = self.state["streams"].setdefault(stream, {})
        first = "newest" not in mine
        budget = self.settings.first_poll_pages if first else self.settings.max_pages
        kind, _, ident = stream.partition(":")
        for number in range(1, budget + 1):
            label = f"brand {brand}, {kind} {ident}, page {number}"
            body = self._thread_page(stream, mine.get("page"), label)
            if "gone" in body:
                log.warning(
                    "%s: %s %s: %s; no longer watched", self.name, kind, ident, body["gone"]
                )
                self.state["videos"].pop(ident, None)
                self.state["streams"].pop(stream, None)
                yield Page([], self._cursor(), label=f"{label}: {body['gone']}")
                return
            parsed = [*youtube_parser.parse(body), *self._more_replies(body, label)]
            items = [self._mine(r, brand, owned) for r in parsed]
            self._remember(mine, body)
            times = _times(body)
            top = max(times, default=None)
            newest = _time(mine["newest"]) if "newest" in mine else None
            caught_up = newest is not None and bool(times) and min(times) <= newest
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
            self._after_walk[stream] = token if done else None
            yield Page(items, self._cursor(), label=label)
            if done:
                return

    def _thread_page(self, stream: str, token: str | None, label: str) -> dict[str, Any]:
        """One page of the stream's threads, newest first (a unit of the quota)."""
        kind, _, ident = stream.partition(":")
        self._spend(1, label)
        args: dict[str, Any] = {
            "part": "snippet,replies",
            "order": "time",
            "maxResults": 100,
            "textFormat": "plainText",
            **({"pageToken": token} if token else {}),
        }
        args["allThreadsRelatedToChannelId" if kind == "channel" else "videoId"] = ident
        request = self.client.commentThreads().list(**args)
        return self.call(label, lambda: self._execute(request))

    def _remember(self, mine: dict[str, Any], body: dict[str, Any]) -> None:
        """The reply counts of the page's threads of the last reply_window (the newest
        MAX_THREADS of a stream): what a recheck compares with."""
        if not self.settings.recheck_every:
            mine.pop("threads", None)
            return
        since = self.runtime.now() - self.settings.reply_window
        known = mine.setdefault("threads", {})
        for item in body.get("items") or []:
            thread_id, count, published = _thread_count(item)
            if thread_id is not None and published is not None and published >= since:
                known[thread_id] = [count, published.isoformat()]
        recent = sorted(
            ((k, v) for k, v in known.items() if _time(v[1]) >= since), key=lambda kv: kv[1][1]
        )
        mine["threads"] = dict(recent[-MAX_THREADS:])

    def _recheck(self, stream: str, brand: str, owned: bool) -> Iterator[Page]:
        """Replies added to threads already read: the stream's first pages read again (every
        recheck_every), and the threads whose reply count moved read whole."""
        mine = self.state["streams"].get(stream)
        every = self.settings.recheck_every
        if mine is None or "newest" not in mine or "page" in mine or not every:
            return
        now = self.runtime.now()
        last = mine.get("rechecked")
        if not (isinstance(last, str) and _readable(last)) or _time(last) > now:
            mine["rechecked"] = now.isoformat()  # the clock starts with the stream's first walk
            yield Page([], self._cursor(), label=f"brand {brand}, {stream}: rechecks from now")
            return
        if now - _time(last) < every:
            return
        since = now - self.settings.reply_window
        kind, _, ident = stream.partition(":")
        # The walk read the first page just now (and counted its threads): the recheck goes on
        # where it stopped, and there is nothing older when it read the whole stream.
        token = self._after_walk.get(stream)
        if token is None:
            mine["rechecked"] = now.isoformat()
            yield Page([], self._cursor(), label=f"brand {brand}, {stream}: nothing older")
            return
        for number in range(2, RECHECK_PAGES + 2):
            label = f"brand {brand}, {kind} {ident}, recheck page {number}"
            body = self._thread_page(stream, token, label)
            if "gone" in body:
                return  # the walk lets it go
            known = mine.get("threads") or {}
            moved = [
                item
                for item in body.get("items") or []
                if (t := _thread_count(item))[0] in known
                and isinstance(known[t[0]], list)
                and t[1] > known[t[0]][0]
            ]
            page = {"items": moved}
            parsed = [*youtube_parser.parse(page), *self._more_replies(page, label)]
            items = [self._mine(r, brand, owned) for r in parsed]
            self._remember(mine, body)
            token = body.get("nextPageToken")
            times = _times(body)
            last_page = number == RECHECK_PAGES + 1
            done = not token or (bool(times) and min(times) < since) or last_page
            if done:  # with this page's cursor: a recheck cut short is not started again
                mine["rechecked"] = now.isoformat()
            yield Page(items, self._cursor(), label=f"{label}: {len(moved)} threads moved")
            if done:
                return

    def _more_replies(self, body: dict[str, Any], label: str) -> Iterator[ParseResult]:
        """The replies a thread page leaves out (it carries five at most): the newest page of
        ``comments.list`` of each such thread, a unit each."""
        for item in body.get("items") or []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            snippet = item.get("snippet") if isinstance(item.get("snippet"), dict) else {}
            carried = ((item.get("replies") or {}).get("comments")) or []
            total = snippet.get("totalReplyCount")
            if type(total) is not int or not isinstance(carried, list) or total <= len(carried):
                continue
            what = f"{label}, replies of {item['id']}"
            self._spend(1, what)
            request = self.client.comments().list(
                part="snippet", parentId=item["id"], maxResults=100, textFormat="plainText"
            )
            replies = self.call(what, lambda request=request: self._execute(request))
            yield from youtube_parser.parse({"items": replies.get("items") or []})

    def _mine(self, item: ParseResult, brand: str, owned: bool) -> ParseResult:
        """A comment as the collector gets it: on the brand's own channel or video, about the
        brand (``about``); by one of the brand's channels, its own answer (``own``)."""
        if not isinstance(item, MentionRecord):
            return item
        if (own := self.own_channels.get(item.author.external_id)) is not None:
            return replace(item, about=own, own=True)
        return replace(item, about=brand) if owned else item

    def _execute(self, request: Any) -> dict[str, Any]:
        """One call; a video or channel whose comments cannot be read is ``{"gone": why}``."""
        from googleapiclient.errors import HttpError

        try:
            body = request.execute(num_retries=0)
        except HttpError as err:
            reason = _reason(err)
            video = "videoId" in (getattr(request, "uri", "") or "")
            if video and reason in GONE and int(err.resp.status) in (403, 404):
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
    """The HttpError's reason code ("quotaExceeded"), read from its body."""
    return reason_of(getattr(err, "content", b""))


def reason_of(content: Any) -> str:
    """An API error body's reason code ("quotaExceeded"), as the API sends it; "" if none."""
    try:
        body = json.loads(content)
        errors = body["error"].get("errors") or []
        return str(errors[0].get("reason", ""))[:64] if errors else ""
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


def _times(body: dict[str, Any]) -> list[datetime]:
    """When the page's threads were started (their top-level comments), readable ones only."""
    return [t for t in map(_published, body.get("items") or []) if t is not None]


def _is_thread_count(value: Any) -> bool:
    """A remembered thread: [reply count, when it was started]."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and isinstance(value[1], str)
        and _readable(value[1])
    )


def _thread_count(item: Any) -> tuple[str | None, int, datetime | None]:
    """A thread's id, reply count (0 when unreadable) and when it was started."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None, 0, None
    snippet = item.get("snippet") if isinstance(item.get("snippet"), dict) else {}
    count = snippet.get("totalReplyCount")
    return item["id"], count if type(count) is int else 0, _published(item)


def _readable(value: str) -> bool:
    try:
        _time(value)
    except PayloadError:
        return False
    return True


def _is_stream_state(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(value.get(k), str) and (k == "page" or _readable(value[k]))
        for k in ("newest", "pending", "page")
        if k in value
    )


def _is_found_video(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("brand"), str)
        and isinstance(value.get("published"), str)
        and _readable(value["published"])
    )


def _entries(given: Any, good: Callable[[Any], bool]) -> dict[str, Any]:
    if not isinstance(given, dict):
        return {}
    return {k: v for k, v in given.items() if isinstance(k, str) and good(v)}
