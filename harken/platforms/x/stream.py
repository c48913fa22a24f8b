"""X's live stream: the API v2 filtered stream through tweepy's ``StreamingClient``, with one
rule per brand (the same query the poll searches with), on the plans that have it.

**Rules.** Before connecting, the stream's rules are made to match the brands: rules tagged
``harken:<brand>`` whose query changed (or whose brand is gone) are deleted, missing ones
added; rules of other tools (other tags) are left alone. X allows the filtered stream on
Pro, Enterprise and pay-per-use plans: a plan without it answers 403 (``client-forbidden``),
and the stream stops for good with that said (``StreamUnavailable``), while polling goes on.

**Connection.** tweepy reads the newline-delimited stream and its keep-alive newlines (one
every 20 seconds). Its own reconnection loop sleeps where harken cannot stop it (up to 320
seconds), so every error disconnects it at once and the daemon's runner reconnects with its
backoff. Each connection is preceded by a poll (``backfills``), whose ``since_id`` reads the
gap; polls go on at the source's interval too (X bills per tweet read: a stream lets the
interval be long). On Enterprise, ``stream_backfill_minutes`` (1-5) also has X replay what the
stream missed while down (the store absorbs what the poll already read).

Each line of the stream is capped at 1 MiB (``harken.net.limits.cap_lines``): tweepy's
``iter_lines`` would hold a line without end in memory.

tweepy hard-codes ``https://api.twitter.com``; the same adapter as the poll's sends its calls
(rules and stream) to ``api_base_url``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
from collections.abc import Iterator
from typing import Any

import requests
import tweepy

from harken.errors import RateLimited, SourceError, TransientSourceError
from harken.net.limits import cap_answers, cap_lines
from harken.platforms.stream import Batch, Batcher, Stream, StreamUnavailable, reported
from harken.platforms.x import parse as x_parser
from harken.platforms.x.source import TWEET_FIELDS, USER_FIELDS, point_at

log = logging.getLogger(__name__)

TAG = "harken:"  # the tag of the rules harken owns: harken:<brand>


class XStream(Stream):
    backfills = True  # nothing is replayed: a poll reads the gap first

    def connect(self, cursor: str | None) -> Iterator[Batch]:
        found: queue.Queue[tuple[str, Any]] = queue.Queue()
        client = _Client(self, found)
        point_at(client, self.settings.api_base_url, self.settings.timeout.total_seconds())
        self._sync_rules(client)
        backfill = self.settings.stream_backfill_minutes
        thread = client.filter(
            threaded=True,
            expansions=["author_id"],
            tweet_fields=TWEET_FIELDS,
            user_fields=USER_FIELDS,
            **({"backfill_minutes": backfill} if backfill else {}),
        )
        try:
            yield from self._batches(found)
        finally:
            # One connection at a time (plans allow one): the old one is shut before a new one
            # opens, not left to end at its next keep-alive.
            client.disconnect()
            client.shut()
            if thread is not None:
                thread.join(timeout=5)

    def _sync_rules(self, client: tweepy.StreamingClient) -> None:
        """harken's rules (tagged harken:<brand>) as the brands' queries: missing ones added
        first (after a stale one of the same value), then stale ones deleted. A rule X
        refuses turns the stream off (retrying would be refused again), saying which."""
        wanted = {f"{TAG}{brand}": query for brand, query in self.source.queries.items()}
        try:
            answer = client.get_rules()
            rules = [r for r in (answer.data or []) if (r.tag or "").startswith(TAG)]
            kept = {r.tag for r in rules if wanted.get(r.tag) == r.value}
            missing = [tweepy.StreamRule(q, tag=t) for t, q in wanted.items() if t not in kept]
            # X refuses a second rule of the same value whatever its tag: a stale rule of ours
            # with a value about to be added (a renamed brand) goes first.
            adding = {rule.value for rule in missing}
            clashing = [r.id for r in rules if wanted.get(r.tag) != r.value and r.value in adding]
            if clashing:
                client.delete_rules(clashing)
            if missing:
                added = client.add_rules(missing)
                if added.errors:
                    said = "; ".join(
                        str(e.get("title") or e.get("message") or e)[:120] for e in added.errors
                    )
                    raise StreamUnavailable(
                        f"{self.name}: stream: X refused a rule ({said})",
                        hint="rules follow the search query syntax and X's rule length; check "
                        "the brands' keywords (two brands with one query are one rule)",
                    )
            stale = [r.id for r in rules if wanted.get(r.tag) != r.value and r.id not in clashing]
            if stale:
                client.delete_rules(stale)
        except tweepy.TweepyException as err:
            raise _explained(self.name, err) from None

    def _batches(self, found: queue.Queue[tuple[str, Any]]) -> Iterator[Batch]:
        batcher = Batcher(self.runtime)
        connected = False
        for kind, value in reported(self.runtime, found):
            if kind == "connected":
                connected = True
                yield Batch([], None, None, label="connected", heard=False)
                continue
            if kind == "beat":
                batcher.heard = True
            if kind == "tweet":
                batcher.add(list(x_parser.parse(value)))
            batch = batcher.ready(connected)
            if batch is not None:
                yield batch


class _Client(tweepy.StreamingClient):
    """tweepy's client, reporting into the stream's queue instead of sleeping and retrying."""

    def __init__(self, stream: XStream, found: queue.Queue[tuple[str, Any]]) -> None:
        settings = stream.settings
        super().__init__(
            settings.bearer_token,
            return_type=tweepy.Response,
            wait_on_rate_limit=False,
            max_retries=0,
            daemon=True,
        )
        self.stream, self.found = stream, found
        self.response: requests.Response | None = None
        # The rules' answers capped as every answer is; not the stream's, which is not one
        # answer to cap (a day of it is gigabytes).
        cap_answers(self.session, skip=_is_stream)
        cap_lines(self.session, only=_is_stream)  # but each of its lines is
        self.session.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if _is_stream(response):
            self.response = response  # the stream's, to shut when it is closed

    def shut(self) -> None:
        """Shut the stream's socket down: a read in progress ends now."""
        connection = getattr(getattr(self.response, "raw", None), "_connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def on_connect(self) -> None:
        self.found.put(("connected", None))

    def on_keep_alive(self) -> None:
        self.found.put(("beat", None))

    def on_data(self, raw_data: bytes) -> None:
        try:
            message = json.loads(raw_data)
        except (ValueError, RecursionError):
            log.info("%s: stream: an unreadable message was skipped", self.stream.name)
            return
        if not isinstance(message, dict):
            return
        if isinstance(message.get("data"), dict):
            # A page of one, as the parser reads search pages (the includes name the author).
            self.found.put(
                ("tweet", {"data": [message["data"]], "includes": message.get("includes") or {}})
            )
        elif message.get("errors"):
            log.warning("%s: stream: X said %s", self.stream.name, str(message["errors"])[:300])

    def on_request_error(self, status_code: int) -> None:
        self.found.put(("error", _status_error(self.stream.name, status_code)))
        self.disconnect()  # no sleeping in tweepy's loop: the runner rests and reconnects

    def on_connection_error(self) -> None:
        self.found.put(
            ("error", TransientSourceError(f"{self.stream.name}: stream: connection lost"))
        )
        self.disconnect()

    def on_closed(self, response: Any) -> None:
        self.found.put(("error", TransientSourceError(f"{self.stream.name}: stream: X closed it")))
        self.disconnect()  # else tweepy connects again in its own thread, beside the runner's

    def on_exception(self, exception: Exception) -> None:
        self.found.put(
            (
                "error",
                TransientSourceError(f"{self.stream.name}: stream: {type(exception).__name__}"),
            )
        )

    def on_disconnect(self) -> None:
        self.found.put(("error", TransientSourceError(f"{self.stream.name}: stream: disconnected")))


def _status_error(name: str, status: int) -> SourceError:
    what = f"{name}: stream: HTTP {status}"
    if status == 403:
        return StreamUnavailable(
            f"{what}: this X plan has no filtered stream",
            hint="the filtered stream needs a Pro, Enterprise or pay-per-use plan; remove "
            "stream: true (polling goes on at the source's interval)",
        )
    if status == 401:
        return SourceError(f"{what}: the bearer token was refused", hint="check X_BEARER_TOKEN")
    if status == 429:
        return RateLimited(f"{what}: too many connections or reconnects")
    return TransientSourceError(what)


def _explained(name: str, err: tweepy.TweepyException) -> SourceError:
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return _status_error(name, status)
    return TransientSourceError(f"{name}: stream: {type(err).__name__}")


def _is_stream(response: requests.Response) -> bool:
    return "/2/tweets/search/stream?" in (response.request.url or "")
