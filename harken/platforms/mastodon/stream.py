"""Mastodon's live stream: the streaming API's hashtag streams (server-sent events over
httpx) of the brands' hashtags, on the first configured instance, signed in; and, with
``stream_timeline``, its public (federated) or local timeline, of which the statuses that name
a brand are kept (the collector's brand filter, run here).

Mastodon.py has streaming too, but its background handle retries a refused connection (a bad
token: HTTP 401) every five seconds forever without a word, and hands out typed entities, not
the JSON the parser reads; and an SSE library (httpx-sse) buffers a line or an event however
long a server makes it. The protocol is a few lines of ``event:``/``data:``, read here with a
limit on each line and each event.

**Where.** The streaming server may live on another host: ``/api/v2/instance/`` says where
(``configuration.urls.streaming``). The token goes there only over https and only to the
instance's host or one of its domain's (``streaming.mastodon.social``); anything else, or no
answer, and the instance itself is used. Since Mastodon 4.2 hashtag streams need a user token
(``access_token``, scope ``read:statuses``); as for polling, the token is only ever sent to
the first instance, so only that one streams.

**Gaps.** Mastodon's streams cannot replay: before each connection the source is polled once
(``backfills``), and the poll's ``min_id`` cursor reads what came while the stream was down.
Polls go on at the source's interval as well (the stream does not cover other instances or
keyword search). One connection per hashtag (and one for the timeline), each read in its own
thread; Mastodon sends a
heartbeat comment every 15 seconds, so none for ``stream_idle`` is a dead connection (the read
times out), and all reconnect. A hashtag the instance refuses (HTTP 4xx but 401, 403 and 429)
is left out with a warning, the others go on; a refused token ends them all. Closing a
connection shuts its socket down, which ends a read in progress at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from harken import __version__
from harken.brands import BrandDetector
from harken.errors import ConfigError, RateLimited, SourceError, TransientSourceError
from harken.net.limits import capped_httpx_hooks
from harken.platforms.base import ParseResult
from harken.platforms.mastodon import parse as mastodon_parser
from harken.platforms.stream import Batch, Batcher, Stream, reported
from harken.records import MentionRecord

log = logging.getLogger(__name__)

MAX_EVENT = 1024 * 1024  # characters of one event's data; a status is a few KB
MAX_LINE = 1024 * 1024  # bytes of one line
QUEUED = 1000  # statuses and heartbeats read ahead of the batches, at most
EVENTS = ("update", "status.update")  # a new status, an edited one
TIMELINES = {"public": "public", "local": "public/local"}  # stream_timeline -> its path


class MastodonStream(Stream):
    backfills = True  # streams cannot replay: a poll fills the gap first

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        token = self.settings.access_token
        if not token:
            raise ConfigError(
                f"sources.{self.name}.stream: Mastodon's streams need access_token "
                "(a user token with read:statuses, since Mastodon 4.2)",
                hint="set the source's access_token to ${MASTODON_ACCESS_TOKEN} (a user token)",
            )
        self.token = token
        self.instance = (self.settings.api_base_url or self.settings.instances[0]).rstrip("/")
        self.tags: list[str] = list(getattr(self.source, "tags", []))
        self.timeline = self.settings.stream_timeline
        if not self.tags and self.timeline == "none":
            raise ConfigError(
                f"sources.{self.name}.stream: no hashtag to stream",
                hint="give the brands hashtags (brands[].hashtags), or stream a timeline "
                "(stream_timeline: public)",
            )
        self.detector = BrandDetector(self.brands)

    def connect(self, cursor: str | None) -> Iterator[Batch]:
        base = self._streaming_base()
        found: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=QUEUED)
        readers = [_Reader(self, base, f"#{t}", "hashtag", {"tag": t}, found) for t in self.tags]
        if self.timeline != "none":
            path = TIMELINES[self.timeline]
            readers.append(_Reader(self, base, f"the {self.timeline} timeline", path, {}, found))
        for reader in readers:
            reader.start()
        try:
            yield from self._batches(found, readers)
        finally:
            for reader in readers:
                reader.closed.set()
                reader.shut()
            deadline = time.monotonic() + 5
            for reader in readers:
                reader.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _batches(
        self, found: queue.Queue[tuple[str, Any]], readers: list[_Reader]
    ) -> Iterator[Batch]:
        batcher = Batcher(self.runtime)
        said_connected = False
        active = {r.label for r in readers}
        for kind, value in reported(self.runtime, found):
            if kind == "gone":  # one stream refused: the others go on
                label, err = value
                log.warning("%s: stream %s left out: %s", self.name, label, err)
                active.discard(label)
                if not active:
                    raise SourceError(f"{self.name}: no stream is accepted ({err})")
            if kind == "beat":
                batcher.heard = True
            if not said_connected and all(r.connected for r in readers if r.label in active):
                said_connected = True
                yield Batch([], None, None, label="connected", heard=False)
            if kind == "status":
                batcher.add(list(mastodon_parser.parse(value)))
            if kind == "timeline":  # everyone's statuses: those naming a brand
                batcher.add(self._naming_a_brand(value))
            batch = batcher.ready(said_connected)
            if batch is not None:
                yield batch

    def _naming_a_brand(self, status: Any) -> list[ParseResult]:
        """A timeline's status as a mention when its text names a brand; else nothing (the
        rest of the timeline is no one's business here, a malformed status included)."""
        return [
            r
            for r in mastodon_parser.parse(status)
            if isinstance(r, MentionRecord) and self.detector.brand_of(r.text) is not None
        ]

    def _streaming_base(self) -> str:
        """The streaming server's base URL: what the instance says, when it is https on the
        instance's own domain; else the instance."""
        try:
            with httpx.Client(
                timeout=self.settings.timeout.total_seconds(), event_hooks=capped_httpx_hooks()
            ) as http:
                answer = http.get(f"{self.instance}/api/v2/instance/")
            answer.raise_for_status()
            said = answer.json()["configuration"]["urls"]["streaming"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return self.instance
        parts = urlsplit(said) if isinstance(said, str) else None
        if parts is None or parts.scheme not in ("wss", "https") or not parts.hostname:
            return self.instance
        own = urlsplit(self.instance).hostname or ""
        domain = own.split(".", 1)[1] if own.count(".") >= 2 else own
        if parts.hostname != own and not parts.hostname.endswith("." + domain):
            log.warning(
                "%s: the instance names a streaming host elsewhere (%s); the token is not sent "
                "there, the instance itself is used",
                self.name,
                parts.hostname,
            )
            return self.instance
        return f"https://{parts.netloc}{parts.path.rstrip('/')}"


class _Reader:
    """One stream (a hashtag's, a timeline's), read in its own thread into the stream's queue."""

    def __init__(
        self,
        stream: MastodonStream,
        base: str,
        label: str,
        path: str,
        params: dict[str, str],
        found: queue.Queue[tuple[str, Any]],
    ) -> None:
        self.stream, self.base, self.label, self.found = stream, base, label, found
        self.path, self.params = path, params
        self.kind = "status" if path == "hashtag" else "timeline"  # a timeline's are filtered
        self.connected = False
        self.response: httpx.Response | None = None
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._read, name=f"mastodon {label}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def shut(self) -> None:
        """End a read in progress now: shut the connection's socket down (closing the client
        from another thread would leave the read waiting for the next heartbeat)."""
        response = self.response
        stream = response.extensions.get("network_stream") if response is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _put(self, item: tuple[str, Any]) -> None:
        """Into the queue, unless the stream closed meanwhile (a bounded queue: a reader
        never runs ahead of the batches by more than QUEUED)."""
        while not self.closed.is_set():
            with contextlib.suppress(queue.Full):
                self.found.put(item, timeout=0.5)
                return

    def _read(self) -> None:
        settings = self.stream.settings
        timeout = settings.timeout.total_seconds()
        idle = settings.stream_idle.total_seconds()
        headers = {
            "Authorization": f"Bearer {self.stream.token}",
            "User-Agent": f"harken/{__version__}",
            "Accept": "text/event-stream",
        }
        url = f"{self.base}/api/v1/streaming/{self.path}"
        try:
            with httpx.Client(timeout=httpx.Timeout(timeout, read=idle)) as client:
                request = client.build_request("GET", url, params=self.params, headers=headers)
                if self.closed.is_set():
                    return
                response = client.send(request, stream=True)
                self.response = response
                try:
                    if response.status_code != 200:
                        refused = _refused(self.stream.name, self.label, response.status_code)
                        gone = isinstance(refused, _StreamRefused)
                        self._put(("gone", (self.label, refused)) if gone else ("error", refused))
                        return
                    self.connected = True
                    self._put(("connected", None))
                    for kind, data in _events(response):
                        if self.closed.is_set():
                            return
                        self._found(kind, data)
                finally:
                    response.close()
            raise TransientSourceError(
                f"{self.stream.name}: stream {self.label}: the server ended it"
            )
        except Exception as err:
            if not self.closed.is_set():
                self._put(("error", _explained(self.stream.name, self.label, err, idle)))
        finally:
            self.connected = False

    def _found(self, kind: str, data: str) -> None:
        if kind == "beat":
            self._put(("beat", None))
            return
        if kind not in EVENTS:
            return
        try:
            status = json.loads(data)
        except (ValueError, RecursionError):  # one bad event is skipped, not the stream
            log.info("%s: stream %s: an unreadable event was skipped", self.stream.name, self.label)
            return
        self._put((self.kind, status))


def _events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """Server-sent events as (event, data), and ("beat", "") for each comment line (Mastodon's
    heartbeat); a line over MAX_LINE or an event over MAX_EVENT ends the stream."""
    buffer = b""
    kind, data, size = "message", [], 0
    for chunk in response.iter_bytes():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) > MAX_LINE:
            raise TransientSourceError("a server-sent line over 1 MiB")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line:  # the end of an event
                if data:
                    yield kind, "\n".join(data)
                kind, data, size = "message", [], 0
            elif line.startswith(":"):
                yield "beat", ""
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    kind = value
                elif field == "data":
                    size += len(value) + 1  # an empty data line counts too
                    if size > MAX_EVENT:
                        raise TransientSourceError("a server-sent event over 1 MiB")
                    data.append(value)


class _StreamRefused(SourceError):
    """The instance refuses this stream (not the token, nor the account)."""


def _refused(name: str, label: str, status: int) -> SourceError:
    what = f"{name}: stream {label}: HTTP {status}"
    if status in (401, 403):
        return SourceError(
            f"{what} (the token was refused)",
            hint="check access_token (MASTODON_ACCESS_TOKEN): a user token with read:statuses",
        )
    if status == 429:
        return RateLimited(f"{what} (too many requests)")
    if status >= 500:
        return TransientSourceError(what)
    return _StreamRefused(f"{what} (the instance refuses this stream)")


def _explained(name: str, label: str, err: Exception, idle: float) -> Exception:
    if isinstance(err, SourceError):
        return err
    if isinstance(err, httpx.ReadTimeout):
        return TransientSourceError(f"{name}: stream {label}: no heartbeat for {idle:.0f}s")
    if isinstance(err, httpx.HTTPError | ValueError | OSError):
        return TransientSourceError(f"{name}: stream {label}: {type(err).__name__}")
    return err
