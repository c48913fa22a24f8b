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
collector's brand filter, run here so that the firehose's hundreds of posts a second never reach
the store). Jetstream does not say who an author is beyond their DID: the authors of the kept
posts are looked up with ``app.bsky.actor.getProfiles`` at the AppView (handle, name,
followers), 25 at a time, remembered; when that fails, the DID stands in.

**Liveness.** The firehose is never quiet: no event for ``stream_idle`` means a dead
connection, which is closed and opened again. websockets answers pings and sends its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
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
from harken.platforms.stream import Batch, Stream

log = logging.getLogger(__name__)

POST = "app.bsky.feed.post"
HISTORY = timedelta(hours=36)  # what Jetstream keeps to replay
MAX_EVENT = 4 * 1024 * 1024  # bytes of one event; a post is a few KB
BATCH_ITEMS = 50  # posts stored together
BATCH_EVERY = 1.0  # seconds a matched post may wait for others
CURSOR_EVERY = 5.0  # seconds between commits of the cursor when nothing matches
PROFILES_AT_ONCE = 25  # app.bsky.actor.getProfiles' limit
KNOWN_AUTHORS = 10_000  # profiles remembered


class Jetstream(Stream):
    covers_poll = True  # every post of the network, filtered as the poll's search would
    backfills = False  # it replays from its cursor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detector = BrandDetector(self.brands)
        self.profiles: dict[str, dict[str, Any]] = {}  # did -> the AppView's profile view
        self.appview = (self.settings.api_base_url or PUBLIC_APPVIEW).rstrip("/")

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
                max_size=MAX_EVENT,
                user_agent_header="harken (social listening; +https://github.com/harken)",
            ) as socket:
                log.info("%s: stream connected (%s)", self.name, _shown(url))
                yield Batch([], None, None, label="connected")
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
                event = _event(message)
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
            tick = last_us is not None and (now - waited_since).total_seconds() >= CURSOR_EVERY
            if full or due or tick:
                yield Batch(self._records(pending), _cursor(last_us), newest, label="stream")
                pending, first_pending, waited_since = [], None, now

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
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str) or self.detector.brand_of(text) is None:
            return None
        did, rkey = event.get("did"), commit.get("rkey")
        if not isinstance(did, str) or not isinstance(rkey, str):
            return None
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
        self._look_up([v["author"]["did"] for v in views])
        found: list[ParseResult] = []
        for view in views:
            profile = self.profiles.get(view["author"]["did"])
            if profile is not None:
                view = {**view, "author": {**view["author"], **_author(profile)}}
            found += bluesky_parser.parse(view)
        return found

    def _look_up(self, dids: list[str]) -> None:
        """The AppView's profiles of authors not yet known (their handle, name, reach); on any
        failure the DIDs stand in, and the stream goes on."""
        wanted = list(dict.fromkeys(d for d in dids if d not in self.profiles))
        for start in range(0, len(wanted), PROFILES_AT_ONCE):
            chunk = wanted[start : start + PROFILES_AT_ONCE]
            try:
                with httpx.Client(
                    timeout=self.settings.timeout.total_seconds(),
                    event_hooks=capped_httpx_hooks(),
                ) as http:
                    answer = http.get(
                        f"{self.appview}/xrpc/app.bsky.actor.getProfiles",
                        params=[("actors", d) for d in chunk],
                    )
                answer.raise_for_status()
                profiles = answer.json().get("profiles")
            except (httpx.HTTPError, ValueError, AttributeError) as err:
                log.info("%s: stream: profiles not looked up (%s)", self.name, type(err).__name__)
                return
            for profile in profiles if isinstance(profiles, list) else []:
                if isinstance(profile, dict) and isinstance(profile.get("did"), str):
                    if len(self.profiles) >= KNOWN_AUTHORS:
                        self.profiles.pop(next(iter(self.profiles)))
                    self.profiles[profile["did"]] = profile


def _author(profile: dict[str, Any]) -> dict[str, Any]:
    """A profile view's fields the parser reads as the post's author."""
    keep = {}
    for key in ("handle", "displayName"):
        if isinstance(profile.get(key), str) and profile[key]:
            keep[key] = profile[key]
    return keep


def _event(message: Any) -> dict[str, Any] | None:
    """A Jetstream event with a plausible ``time_us``; None for anything else (logged)."""
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
        plausible(_at(time_us), "time_us")
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
