"""Keeping live streams connected (``harken run``): one thread per stream, each batch stored
with its cursor, health and lag recorded, reconnection with backoff.

A batch's mentions and the stream's cursor (``<source>~stream``, apart from the poll's) are one
transaction, as a poll's page and its cursor: a process killed at any moment resumes from the
last committed batch. Before each connection of a stream that cannot replay what it missed
(``Stream.backfills``), the source is polled once: the poll's own cursor covers the gap. The
source's polls go on at their interval meanwhile, so its cursor stays fresh and anything a
stream misses (a drop, an outage longer than a replay reaches) is read within an interval.

Health lives in ``source_health.stream`` (``harken sources``): connected or not and since when,
when the server was last heard from (an event, a heartbeat, a keep-alive: a connection that
only stays open is not "live"), the newest event's own time and its lag, reconnections, the
last error, and whether the daemon stopped it. Recording health is best effort: a database
that is away for a moment does not end the thread.

An error never ends the thread either: it is recorded, and the stream connects again after 1,
2, 4 ... up to ``MAX_BACKOFF`` seconds (with jitter; a rate limit waits for its reset, a minute
at least), reset once a connection has lasted a minute. A platform that will not stream to the
account at all (``StreamUnavailable``) ends it, said once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from harken.config import Config
from harken.errors import HarkenError, RateLimited, TransientSourceError
from harken.logs import redact
from harken.pipeline.collect import PollReport, store_page
from harken.pipeline.ingest import brand_detector
from harken.platforms.source import Page, Stopped
from harken.platforms.stream import Batch, Stream, StreamUnavailable
from harken.store import Store
from harken.store import sources as source_repo
from harken.text import strip_controls

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0  # seconds between attempts, at most
STEADY = timedelta(minutes=1)  # a connection this old resets the backoff
LIVE = timedelta(seconds=60)  # a stream not heard from for longer is "silent"
STREAM_SUFFIX = "~stream"


def cursor_key(source: str) -> str:
    return f"{source}{STREAM_SUFFIX}"


class StreamRunner:
    """One stream, kept connected until ``stop`` (the source's runtime's stop event)."""

    def __init__(
        self,
        store: Store,
        config: Config,
        stream: Stream,
        on_stored: Callable[[], Any] = lambda: None,
        backfill: Callable[[], Any] = lambda: None,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.store = store
        self.stream = stream
        self.on_stored = on_stored
        self.backfill = backfill
        self.say = say
        self.brands = brand_detector(config)
        self.runtime = stream.runtime
        self.connected_at: datetime | None = None
        self.heard_at: datetime | None = None  # when the server was last heard from
        self.reconnects = 0
        self.thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.stream.name

    @property
    def live(self) -> bool:
        """Connected, and the server heard from lately (events, heartbeats, keep-alives)."""
        now = self.runtime.now()
        return (
            self.connected_at is not None
            and self.heard_at is not None
            and now - self.heard_at < LIVE
        )

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"stream:{self.name}", daemon=True)
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        """Until the stop: connect, store, and on any failure record it, rest, connect
        again. Nothing but the stop (or a platform refusing for good) ends the thread."""
        failures = 0
        off = False
        try:
            while not self.runtime.stop.is_set():
                try:
                    if self.stream.backfills:
                        self.backfill()
                    self._connection()
                except Stopped:
                    break
                except StreamUnavailable as err:  # refused for good: said once, polls go on
                    self._failed(err, again=False)
                    off = True
                    break
                except Exception as err:  # recorded; the stream connects again after a rest
                    connected = self.connected_at
                    steady = connected is not None and self.runtime.now() - connected >= STEADY
                    failures = 1 if steady else failures + 1
                    self.connected_at = None
                    self._failed(err)
                    try:
                        self.runtime.wait(self._rest(failures, err))
                    except Stopped:
                        break
                finally:
                    self.connected_at = None
        finally:
            self._record(connected=False, stopped=not off, off=off)
            self.stream.close()

    def _rest(self, failures: int, err: Exception) -> float:
        """1, 2, 4 ... MAX_BACKOFF seconds (with jitter); a rate limit waits for its reset,
        a minute at least (what X asks of a stream told to slow down)."""
        delay = min(MAX_BACKOFF, 2.0 ** (failures - 1))
        delay = delay / 2 + self.runtime.rng.uniform(0, delay / 2)
        if isinstance(err, RateLimited):
            until = err.reset_at - self.runtime.now() if err.reset_at else timedelta(0)
            delay = max(delay, until.total_seconds(), 60.0)
        return delay

    def _connection(self) -> None:
        with self.store.session() as session:
            cursor = source_repo.get_cursor(session, cursor_key(self.name))
        # Closed on the way out, whatever happens: a failure here must not leave the
        # connection open through the rest that follows it.
        with contextlib.closing(self.stream.connect(cursor)) as batches:
            for batch in batches:
                if self.connected_at is None:
                    self.connected_at = self.runtime.now()
                    self.say(f"{self.name}: stream connected")
                self._store(batch)
        self.runtime.check_stop()
        raise TransientSourceError(f"{self.name}: the stream ended")

    def _store(self, batch: Batch) -> None:
        report = PollReport(self.name)
        page = Page(batch.items, batch.cursor, label=batch.label or "stream")
        if batch.items or batch.cursor is not None:
            store_page(
                self.store, self.brands, self.stream.source, page, report, cursor_key(self.name)
            )
        now = self.runtime.now()
        if batch.heard:
            self.heard_at = now
        self._record(connected=True, batch=batch, stored=report.stored, at=now)
        if report.stored:
            log.info("%s: stream: %d new", self.name, report.stored)
            self.on_stored()

    def _failed(self, err: Exception, again: bool = True) -> None:
        said = err if isinstance(err, HarkenError) else f"{type(err).__name__}: {err}"
        if not isinstance(err, HarkenError):
            log.exception("%s: stream failed", self.name)
        message = redact(strip_controls(str(said)))[:1000]
        if again:
            self.reconnects += 1
            self.say(f"{self.name}: stream dropped ({message}); reconnecting")
        else:
            self.say(f"{self.name}: stream off ({message}); polling goes on")
        self._record(connected=False, error=message)

    def _record(
        self,
        connected: bool,
        batch: Batch | None = None,
        stored: int = 0,
        at: datetime | None = None,
        error: str | None = None,
        stopped: bool = False,
        off: bool = False,
    ) -> None:
        """The stream's health row; best effort: a database that is down for a moment must
        not end the thread (the next batch records it again)."""
        now = at or self.runtime.now()
        try:
            with self.store.session() as session:
                health = source_repo.health_for_update(session, self.name)
                state: dict[str, Any] = dict(health.stream or {})
                state["connected"] = connected
                state["stopped"] = stopped
                state["off"] = off  # the platform will not stream to this account
                state["reconnects"] = self.reconnects
                if connected and self.connected_at is not None:
                    state["connected_at"] = self.connected_at.isoformat()
                if batch is not None and batch.heard:
                    state["seen_at"] = now.isoformat()
                if batch is not None and batch.newest is not None:
                    state["event_at"] = batch.newest.isoformat()
                    state["lag_seconds"] = max(0.0, (now - batch.newest).total_seconds())
                state["stored"] = int(state.get("stored", 0)) + stored
                if error is not None:
                    state["last_error"] = error
                    state["last_error_at"] = now.isoformat()
                health.stream = state
                session.add(health)
        except Exception as err:  # the database: said in the log, tried again next batch
            log.warning("%s: stream health not recorded (%s)", self.name, type(err).__name__)
