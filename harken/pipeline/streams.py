"""Keeping live streams connected (``harken run``): one thread per stream, each batch stored
with its cursor, health and lag recorded, reconnection with backoff.

A batch's mentions and the stream's cursor (``<source>~stream``, apart from the poll's) are one
transaction, as a poll's page and its cursor: a process killed at any moment resumes from the
last committed batch. Before each connection of a stream that cannot replay what it missed
(``Stream.backfills``), the source is polled once: the poll's own cursor covers the gap. While a
stream that reads everything its poll would (``Stream.covers_poll``) is connected and live, the
daemon skips that source's polls; when it drops, polling goes on at the source's interval.

Health lives in ``source_health.stream`` (``harken sources``): connected or not and since when,
the newest event's own time and when it was read (their distance is the lag), reconnections,
and the last error. An error never ends the thread: it is recorded, and the stream connects
again after 1, 2, 4 ... up to ``MAX_BACKOFF`` seconds (with jitter), reset once a connection
has lasted a minute.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from harken.brands import BrandDetector
from harken.config import Config
from harken.errors import HarkenError, TransientSourceError
from harken.logs import redact
from harken.pipeline.collect import PollReport, store_page
from harken.platforms.source import Page, Stopped
from harken.platforms.stream import Batch, Stream, StreamUnavailable
from harken.store import Store
from harken.store import sources as source_repo
from harken.text import strip_controls

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0  # seconds between attempts, at most
STEADY = timedelta(minutes=1)  # a connection this old resets the backoff
LIVE = timedelta(seconds=90)  # a stream silent for longer is not live (polls resume)
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
        self.brands = BrandDetector(config.brands)
        self.runtime = stream.runtime
        self.connected_at: datetime | None = None
        self.alive_at: datetime | None = None  # the last batch (or keep-alive) read
        self.reconnects = 0
        self.thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.stream.name

    @property
    def live(self) -> bool:
        """Connected and heard from recently: the poll it covers may rest."""
        now = self.runtime.now()
        return (
            self.connected_at is not None
            and self.alive_at is not None
            and now - self.alive_at < LIVE
        )

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"stream:{self.name}", daemon=True)
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        failures = 0
        while not self.runtime.stop.is_set():
            began = self.runtime.now()
            try:
                if self.stream.backfills:
                    self.backfill()
                self._connection()
            except Stopped:
                break
            except StreamUnavailable as err:  # refused for good: said once, polls go on
                self._failed(err, again=False)
                break
            except Exception as err:  # recorded; the stream connects again after a rest
                steady = self.connected_at is not None and self.runtime.now() - began >= STEADY
                failures = 1 if steady else failures + 1
                self._failed(err)
                delay = min(MAX_BACKOFF, 2.0 ** (failures - 1))
                delay = delay / 2 + self.runtime.rng.uniform(0, delay / 2)
                try:
                    self.runtime.wait(delay)
                except Stopped:
                    break
            finally:
                self.connected_at = None
        self._record(connected=False)
        self.stream.close()

    def _connection(self) -> None:
        with self.store.session() as session:
            cursor = source_repo.get_cursor(session, cursor_key(self.name))
        batches = self.stream.connect(cursor)
        for batch in batches:
            if self.connected_at is None:
                self.connected_at = self.runtime.now()
                self._record(connected=True)
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
        self.alive_at = now
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
    ) -> None:
        now = at or self.runtime.now()
        with self.store.session() as session:
            health = source_repo.health_for_update(session, self.name)
            state: dict[str, Any] = dict(health.stream or {})
            state["connected"] = connected
            state["reconnects"] = self.reconnects
            if connected and self.connected_at is not None:
                state["connected_at"] = self.connected_at.isoformat()
            if batch is not None:
                state["seen_at"] = now.isoformat()
                if batch.newest is not None:
                    state["event_at"] = batch.newest.isoformat()
                    state["lag_seconds"] = max(0.0, (now - batch.newest).total_seconds())
                state["stored"] = int(state.get("stored", 0)) + stored
            if error is not None:
                state["last_error"] = error
                state["last_error_at"] = now.isoformat()
            health.stream = state
            session.add(health)
