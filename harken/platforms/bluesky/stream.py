"""Bluesky's live stream: Jetstream, the public WebSocket firehose of every new post, read with
the ``websockets`` library and filtered by the brands' terms on this side (Jetstream filters
by collection and author only).

**Resume.** The cursor is the ``time_us`` of the last event read (every event, matched or not),
committed with the batch that covers it; a new connection asks for ``cursor`` =
that, less ``rewind`` (Jetstream's advice: events are delivered at least once, and a host
switch may reorder a few seconds; the store absorbs the posts read twice). Jetstream keeps 36
hours: a stream down for longer starts from its oldest event, and the warning says what was
skipped (the poll of ``searchPosts`` still covers it).

**What is kept.** Created posts (``app.bsky.feed.post``) whose text names a brand (the
collector's brand filter, run here so that the firehose's hundreds of posts a second never
reach the store); and the replies of the brand's own accounts, named or not, which mark the
posts they answer responded (their announcements are left out). Jetstream does not say who an
author is beyond their DID: the authors of the kept posts are looked up with
``app.bsky.actor.getProfiles`` at the AppView (handle, name, followers), 25 at a time,
remembered; when that fails, the DID stands in.

**Liveness.** The firehose is never quiet: no event for ``stream_idle`` means a dead
connection, which is closed and opened again. websockets answers pings and sends its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from harken.brands import BrandDetector
from harken.errors import PayloadError, TransientSourceError
from harken.net.limits import capped_httpx_hooks
from harken.platforms.base import ParseResult, plausible
from harken.platforms.bluesky import parse as bluesky_parser
from harken.platforms.bluesky.source import PUBLIC_APPVIEW
from harken.platforms.source import Stopped
from harken.platforms.stream import BATCH_EVERY, BATCH_ITEMS, Batch, Stream
from harken.records import MentionRecord

log = logging.getLogger(__name__)

POST = "app.bsky.feed.post"
HISTORY = timedelta(hours=36)  # what Jetstream keeps to replay
MAX_EVENT = 4 * 1024 * 1024  # bytes of one event asked for; a post is a few KB
FUTURE = timedelta(minutes=5)  # an event time further ahead than this is a clock's mistake
LOOKUP_TIMEOUT = 5.0  # seconds for a profile lookup: the read loop waits for it
LOOKUP_REST = 60.0  # seconds without lookups after one failed
CURSOR_EVERY = 5.0  # seconds between commits of the cursor when nothing matches
PROFILES_AT_ONCE = 25  # app.bsky.actor.getProfiles' limit
KNOWN_AUTHORS = 10_000  # profiles remembered


class Jetstream(Stream):
    backfills = False  # it replays from its cursor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detector = BrandDetector(self.brands)
        self.languages = {b.name: set(b.languages) for b in self.brands if b.languages}
        self.own_handles = {  # handle -> brand
            h.strip().lstrip("@").casefold(): b.name for b in self.brands for h in b.handles
        }
        self.own_dids: dict[str, str] = {}  # did -> brand, once the AppView resolved them
        self.profiles: dict[str, dict[str, Any]] = {}  # did -> the AppView's profile view
        self.appview = (self.settings.api_base_url or PUBLIC_APPVIEW).rstrip("/")
        self.http = httpx.Client(timeout=LOOKUP_TIMEOUT, event_hooks=capped_httpx_hooks())
        self.lookups_rest_until = 0.0

    def connect(self, cursor: str | None) -> Iterator[Batch]:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        start = self._start(cursor)
        url = self._url(start)
        timeout = self.settings.timeout.total_seconds()
        try:
            with connect(
                url,
                open_timeout=timeout,
                close_timeout=5,
                # Above what is asked for: a relay that ignores maxMessageSizeBytes must not
                # close the connection on one large event, again at every replay of it.
                max_size=2 * MAX_EVENT,
                user_agent_header="harken (social listening; +https://github.com/harken)",
            ) as socket:
                log.info("%s: stream connected (%s)", self.name, _shown(url))
                yield Batch([], None, None, label="connected", heard=False)
                self._own_accounts()
                yield from self._read(socket, start)
        except (OSError, TimeoutError, WebSocketException) as err:
            raise TransientSourceError(
                f"{self.name}: stream: {type(err).__name__}: {err}"
            ) from None

    def _start(self, cursor: str | None) -> int | None:
        """Where to resume, in Jetstream's microseconds (None: from now)."""
        stored = _stored_time(cursor)
        if stored is None:
            return None
        now = int(self.runtime.now().timestamp() * 1_000_000)
        if stored > now:  # a clock's mistake: from the future, Jetstream would only tail
            log.warning(
                "%s: stream: the stored cursor is in the future; resuming from now", self.name
            )
            stored = now
        rewound = stored - int(self.settings.stream_rewind.total_seconds() * 1_000_000)
        oldest = int((self.runtime.now() - HISTORY).timestamp() * 1_000_000)
        if rewound < oldest:
            log.warning(
                "%s: stream: down since %s, longer than Jetstream keeps (36 h): posts before "
                "%s are not replayed (the poll's search still finds them)",
                self.name,
                _at(stored).isoformat(timespec="seconds"),
                _at(oldest).isoformat(timespec="seconds"),
            )
        return max(rewound, oldest)

    def _url(self, start: int | None) -> str:
        query: list[tuple[str, Any]] = [("wantedCollections", POST)]
        query.append(("maxMessageSizeBytes", MAX_EVENT))
        if start is not None:
            query.append(("cursor", start))
        base = self.settings.jetstream_url
        return f"{base}{'&' if '?' in base else '?'}{urlencode(query)}"

    def _read(self, socket: Any, start: int | None) -> Iterator[Batch]:
        idle = self.settings.stream_idle.total_seconds()
        pending: list[dict[str, Any]] = []  # matched posts' views, waiting for their batch
        last_us = start
        newest: datetime | None = None
        heard = False  # an event read since the last batch
        waited_since = self.runtime.now()  # for the cursor-only commits
        first_pending: datetime | None = None
        quiet = 0.0
        while True:
            if self.runtime.stop.is_set():
                raise Stopped
            try:
                message = socket.recv(timeout=min(1.0, BATCH_EVERY))
                quiet = 0.0
            except TimeoutError:
                quiet += min(1.0, BATCH_EVERY)
                if quiet >= idle:
                    raise TransientSourceError(
                        f"{self.name}: stream: no event for {idle:.0f}s; reconnecting"
                    ) from None
                message = None
            if message is not None:
                heard = True
                event = _event(message, self.runtime.now() + FUTURE)
                if event is not None:
                    time_us = event["time_us"]
                    last_us = max(last_us or time_us, time_us)
                    newest = _at(last_us)
                    view = self._matched(event)
                    if view is not None:
                        pending.append(view)
                        first_pending = first_pending or self.runtime.now()
            now = self.runtime.now()
            full = len(pending) >= BATCH_ITEMS
            due = first_pending is not None and (now - first_pending).total_seconds() >= BATCH_EVERY
            tick = heard and (now - waited_since).total_seconds() >= CURSOR_EVERY
            if full or due or tick:
                records = self._records(pending)
                yield Batch(records, _cursor(last_us), newest, label="stream", heard=heard)
                pending, first_pending, waited_since, heard = [], None, now, False

    def _matched(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """A created post that names a brand, as the post view the parser reads."""
        if event.get("kind") != "commit":
            return None
        commit = event.get("commit")
        if not isinstance(commit, dict) or commit.get("collection") != POST:
            return None
        if commit.get("operation") != "create":
            return None
        record = commit.get("record")
        did, rkey = event.get("did"), commit.get("rkey")
        if not isinstance(record, dict) or not isinstance(did, str) or not isinstance(rkey, str):
            return None
        if did in self.own_dids:  # the brand's replies are its answers, named or not
            if not isinstance(record.get("reply"), dict):
                return None  # its announcements are no mentions (as ingest leaves them out)
        else:
            text = record.get("text")
            brand = self.detector.brand_of(text) if isinstance(text, str) else None
            if brand is None:
                return None
            wanted, langs = self.languages.get(brand), record.get("langs")
            written = {str(x) for x in langs} if isinstance(langs, list) else set()
            if wanted and written and not wanted & written:
                return None  # the brand listens in other languages (as the poll's lang filter)
        return {
            "uri": f"at://{did}/{POST}/{rkey}",
            "cid": commit.get("cid"),
            "author": {"did": did, "handle": did},
            "record": record,
            "indexedAt": _at(event["time_us"]).isoformat(),
        }

    def _records(self, views: list[dict[str, Any]]) -> list[ParseResult]:
        if not views:
            return []
        self._own_accounts()  # not resolved at connect (the AppView was away): try again
        self._look_up([v["author"]["did"] for v in views])
        found: list[ParseResult] = []
        for view in views:
            did = view["author"]["did"]
            if (profile := self.profiles.get(did)) is not None:
                view = {**view, "author": {**view["author"], **_author(profile)}}
            own = self.own_dids.get(did)  # marked: ingest keeps the brand's answers only
            found += [
                replace(r, own=True, about=own) if own and isinstance(r, MentionRecord) else r
                for r in bluesky_parser.parse(view)
            ]
        return found

    def _own_accounts(self) -> None:
        """The brands' own handles as DIDs (Jetstream names authors by DID only), once."""
        if self.own_dids or not self.own_handles:
            return
        for profile in self._profiles(sorted(self.own_handles)):
            if (brand := self.own_handles.get(profile.get("handle", "").casefold())) is not None:
                self.own_dids[profile["did"]] = brand

    def _look_up(self, dids: list[str]) -> None:
        """The AppView's profiles of authors not yet known (their handle, name, reach); when
        the AppView fails, the DIDs stand in and lookups rest a while (the stream goes on)."""
        wanted = list(dict.fromkeys(d for d in dids if d not in self.profiles))
        for profile in self._profiles(wanted):
            if len(self.profiles) >= KNOWN_AUTHORS:
                self.profiles.pop(next(iter(self.profiles)))
            self.profiles[profile["did"]] = profile

    def _profiles(self, actors: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(actors), PROFILES_AT_ONCE):
            if time.monotonic() < self.lookups_rest_until:
                return found
            chunk = actors[start : start + PROFILES_AT_ONCE]
            try:
                answer = self.http.get(
                    f"{self.appview}/xrpc/app.bsky.actor.getProfiles",
                    params=[("actors", a) for a in chunk],
                )
                answer.raise_for_status()
                profiles = answer.json().get("profiles")
            except (httpx.HTTPError, ValueError, AttributeError) as err:
                log.info("%s: stream: profiles not looked up (%s)", self.name, type(err).__name__)
                self.lookups_rest_until = time.monotonic() + LOOKUP_REST
                return found
            for profile in profiles if isinstance(profiles, list) else []:
                if isinstance(profile, dict) and isinstance(profile.get("did"), str):
                    found.append(profile)
        return found

    def close(self) -> None:
        self.http.close()


def _author(profile: dict[str, Any]) -> dict[str, Any]:
    """A profile view's fields the parser reads as the post's author."""
    keep = {k: profile[k] for k in ("handle", "displayName") if isinstance(profile.get(k), str)}
    if type(profile.get("followersCount")) is int:
        keep["followersCount"] = profile["followersCount"]
    return {k: v for k, v in keep.items() if v != ""}


def _event(message: Any, latest: datetime) -> dict[str, Any] | None:
    """A Jetstream event whose ``time_us`` is plausible and not past ``latest``; None for
    anything else."""
    try:
        event = json.loads(message)
    except (ValueError, TypeError, RecursionError):
        log.info("stream: an unreadable event was skipped")
        return None
    if not isinstance(event, dict):
        return None
    time_us = event.get("time_us")
    if type(time_us) is not int:
        return None
    try:
        if plausible(_at(time_us), "time_us") > latest:
            return None  # from the future: it would hold the cursor there
    except (PayloadError, ValueError, OverflowError, OSError):
        return None
    return event


def _at(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, tz=UTC)


def _cursor(time_us: int | None) -> str | None:
    return json.dumps({"time_us": time_us}) if time_us is not None else None


def _stored_time(cursor: str | None) -> int | None:
    try:
        value = json.loads(cursor).get("time_us") if cursor else None
    except (ValueError, AttributeError):
        return None
    return value if type(value) is int and value > 0 else None


def _shown(url: str) -> str:
    return url.split("?", 1)[0]
