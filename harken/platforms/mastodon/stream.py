"""Mastodon's live stream: the streaming API's hashtag streams (server-sent events, read with
httpx-sse) of the brands' hashtags, on the first configured instance, signed in.

Mastodon.py has streaming too, but its background handle retries a refused connection (a bad
token: HTTP 401) every five seconds forever without a word, and hands out typed entities, not
the JSON the parser reads; the protocol itself is a few lines of ``event:``/``data:``.

**Where.** The streaming server may live on another host: ``/api/v2/instance/`` says where
(``configuration.urls.streaming``); without an answer, the instance itself. Since Mastodon 4.2
hashtag streams need a user token (``access_token``, scope ``read:statuses``); as for polling,
the token is only ever sent to the first instance, so only that one streams.

**Gaps.** Mastodon's streams cannot replay: before each connection the source is polled once
(``backfills``), and the poll's ``min_id`` cursor reads what came while the stream was down.
Polls go on at the source's interval as well (the stream does not cover other instances or
keyword search). One connection per hashtag, each read in its own thread; the stream is
alive while every one of them is: Mastodon sends a heartbeat comment every 15 seconds, so
none for ``stream_idle`` is a dead connection (the read times out), and all reconnect.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from harken import __version__
from harken.errors import ConfigError, SourceError, TransientSourceError
from harken.platforms.base import ParseResult
from harken.platforms.mastodon import parse as mastodon_parser
from harken.platforms.source import Stopped
from harken.platforms.stream import Batch, Stream
from harken.records import MentionRecord

log = logging.getLogger(__name__)

BATCH_ITEMS = 50
BATCH_EVERY = 1.0  # seconds a status may wait for others
ALIVE_EVERY = 5.0  # seconds between keep-alive batches (nothing new, the streams are up)
MAX_EVENT = 1024 * 1024  # characters of one event's data; a status is a few KB
EVENTS = ("update", "status.update")  # a new status, an edited one


class MastodonStream(Stream):
    covers_poll = False  # other instances and keyword search are polled still
    backfills = True  # streams cannot replay: a poll fills the gap first

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        token = self.settings.access_token
        if not token:
            raise ConfigError(
                f"sources.{self.name}.stream: Mastodon's streams need access_token "
                "(a user token with read:statuses, since Mastodon 4.2)",
                hint='add access_token: "${MASTODON_ACCESS_TOKEN}" to the source',
            )
        self.token = token
        self.instance = (self.settings.api_base_url or self.settings.instances[0]).rstrip("/")
        self.tags: list[str] = list(getattr(self.source, "tags", []))
        if not self.tags:
            raise ConfigError(
                f"sources.{self.name}.stream: no hashtag to stream",
                hint="give the brands hashtags (brands[].hashtags)",
            )

    def connect(self, cursor: str | None) -> Iterator[Batch]:
        base = self._streaming_base()
        found: queue.Queue[tuple[str, Any]] = queue.Queue()
        readers = [_Reader(self, base, tag, found) for tag in self.tags]
        for reader in readers:
            reader.start()
        try:
            yield from self._batches(found, readers)
        finally:
            for reader in readers:
                reader.close()

    def _batches(
        self, found: queue.Queue[tuple[str, Any]], readers: list[_Reader]
    ) -> Iterator[Batch]:
        pending: list[ParseResult] = []
        first_pending: datetime | None = None
        last_batch = self.runtime.now()
        said_connected = False
        while True:
            if self.runtime.stop.is_set():
                raise Stopped
            try:
                kind, value = found.get(timeout=0.5)
            except queue.Empty:
                kind, value = "", None
            if kind == "error":
                raise value
            if not said_connected and all(r.connected for r in readers):
                said_connected = True
                yield Batch([], None, None, label="connected")
            if kind == "status":
                pending += mastodon_parser.parse(value)
                first_pending = first_pending or self.runtime.now()
            now = self.runtime.now()
            due = first_pending is not None and (now - first_pending).total_seconds() >= BATCH_EVERY
            alive = (now - last_batch).total_seconds() >= ALIVE_EVERY and all(
                r.connected for r in readers
            )
            if len(pending) >= BATCH_ITEMS or due or alive:
                times = [r.created_at for r in pending if isinstance(r, MentionRecord)]
                yield Batch(pending, None, max(times, default=None), label="stream")
                pending, first_pending, last_batch = [], None, now

    def _streaming_base(self) -> str:
        """The streaming server's base URL: what the instance says, else the instance."""
        try:
            with httpx.Client(timeout=self.settings.timeout.total_seconds()) as http:
                answer = http.get(f"{self.instance}/api/v2/instance/")
            answer.raise_for_status()
            said = answer.json()["configuration"]["urls"]["streaming"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return self.instance
        parts = urlsplit(said) if isinstance(said, str) else None
        if parts is None or parts.scheme not in ("wss", "ws", "https", "http") or not parts.netloc:
            return self.instance
        scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
        return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class _Reader:
    """One hashtag's stream, read in its own thread into the stream's queue."""

    def __init__(
        self, stream: MastodonStream, base: str, tag: str, found: queue.Queue[tuple[str, Any]]
    ) -> None:
        self.stream, self.base, self.tag, self.found = stream, base, tag, found
        self.connected = False
        self.client: httpx.Client | None = None
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._read, name=f"mastodon #{tag}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.closed.set()
        if self.client is not None:
            self.client.close()  # a read in progress ends with an error, which is ignored
        self.thread.join(timeout=5)

    def _read(self) -> None:
        from httpx_sse import connect_sse

        settings = self.stream.settings
        timeout = settings.timeout.total_seconds()
        idle = settings.stream_idle.total_seconds()
        headers = {
            "Authorization": f"Bearer {self.stream.token}",
            "User-Agent": f"harken/{__version__}",
        }
        try:
            with httpx.Client(timeout=httpx.Timeout(timeout, read=idle)) as client:
                self.client = client
                url = f"{self.base}/api/v1/streaming/hashtag"
                with connect_sse(
                    client, "GET", url, params={"tag": self.tag}, headers=headers
                ) as source:
                    status = source.response.status_code
                    if status != 200:
                        raise _refused(self.stream.name, self.tag, status)
                    self.connected = True
                    self.found.put(("connected", None))  # wakes the batches up
                    for event in source.iter_sse():
                        if event.event in EVENTS and len(event.data) <= MAX_EVENT:
                            self._found(event.data)
            raise TransientSourceError(
                f"{self.stream.name}: stream #{self.tag}: the server ended it"
            )
        except Exception as err:
            if self.closed.is_set():
                return
            self.found.put(("error", _explained(self.stream.name, self.tag, err, idle)))
        finally:
            self.connected = False

    def _found(self, data: str) -> None:
        try:
            status = json.loads(data)
        except (ValueError, RecursionError):  # one bad event is skipped, not the stream
            log.info("%s: stream #%s: an unreadable event was skipped", self.stream.name, self.tag)
            return
        self.found.put(("status", status))


def _refused(name: str, tag: str, status: int) -> SourceError:
    what = f"{name}: stream #{tag}: HTTP {status}"
    if status in (401, 403):
        return SourceError(
            f"{what} (the token was refused)",
            hint="check access_token (MASTODON_ACCESS_TOKEN): a user token with read:statuses",
        )
    if status == 429 or status >= 500:
        return TransientSourceError(what)
    return SourceError(f"{what} (the instance may have streams off)")


def _explained(name: str, tag: str, err: Exception, idle: float) -> Exception:
    from httpx_sse import SSEError

    if isinstance(err, SourceError):
        return err
    if isinstance(err, httpx.ReadTimeout):
        return TransientSourceError(
            f"{name}: stream #{tag}: no heartbeat for {idle:.0f}s; reconnecting"
        )
    if isinstance(err, httpx.HTTPError | SSEError | ValueError):
        return TransientSourceError(f"{name}: stream #{tag}: {type(err).__name__}")
    return err
