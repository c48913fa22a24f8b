"""What every live stream shares: batches with their cursor, and the contract each platform's
``stream.py`` implements.

A stream is the low-latency companion of a polled source (``sources.<name>.stream: true``): the
same settings, brands and credentials, a connection that stays open, and posts stored seconds
after they are written instead of one poll interval later. ``harken run`` keeps each stream
connected (harken/pipeline/streams.py: reconnects with backoff, health, lag); the poll goes on
at its interval as the fallback, and fills what a stream cannot replay.

``connect`` yields **batches** while its one connection lasts: the brand's posts it saw, the
cursor to commit *with* them (``None``: the stream has none to resume from), and the time of the
newest event read (its distance from now is the stream's lag). A connection that drops raises
(a ``SourceError`` saying why); a stop request ends the generator.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from harken.errors import SourceError
from harken.platforms.base import ParseResult
from harken.platforms.source import Runtime, Source, Stopped
from harken.records import MentionRecord

BATCH_ITEMS = 50  # posts stored together
BATCH_EVERY = 1.0  # seconds a post may wait for others
ALIVE_EVERY = 5.0  # seconds between batches while connected, new posts or not


class StreamUnavailable(SourceError):
    """The platform will not stream to this account (a plan without it): connecting again
    would be refused again. The stream stops, saying why; polling goes on."""


@dataclass(frozen=True)
class Batch:
    items: list[ParseResult]
    cursor: str | None  # committed in the same transaction as ``items``
    newest: datetime | None  # the newest event's own time: now minus it is the lag
    label: str = ""
    # Whether the server was heard from since the last batch (an event, a heartbeat, a
    # keep-alive): only that shows a connection is alive, not the batch itself.
    heard: bool = True


class Stream(ABC):
    """A live connection for one configured source (it shares the source's settings, brands,
    runtime and name)."""

    # Whether each (re)connection is preceded by a poll that fills the gap (a stream that
    # cannot replay what it missed).
    backfills: ClassVar[bool] = True

    def __init__(self, source: Source) -> None:
        self.source = source
        self.name = source.name
        self.settings = source.settings
        self.brands = source.brands
        self.runtime = source.runtime

    @abstractmethod
    def connect(self, cursor: str | None) -> Iterator[Batch]:
        """One connection: batches until it drops (raises) or a stop is requested."""

    def close(self) -> None:
        """Release what the stream holds (called when the process is done with it)."""
        return None


class Batcher:
    """Posts read from a stream, gathered into batches: ``BATCH_ITEMS`` at most, none waiting
    more than ``BATCH_EVERY``, and one every ``ALIVE_EVERY`` while connected even when empty
    (it carries whether the server was heard from meanwhile: the runner's sign of life)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.pending: list[ParseResult] = []
        self.first: datetime | None = None  # when the oldest waiting post was read
        self.last = runtime.now()  # when the last batch went out
        self.heard = False

    def add(self, items: list[ParseResult]) -> None:
        self.pending += items
        self.first = self.first or self.runtime.now()
        self.heard = True

    def ready(self, connected: bool) -> Batch | None:
        """The batch due now, if one is."""
        now = self.runtime.now()
        due = self.first is not None and (now - self.first).total_seconds() >= BATCH_EVERY
        alive = connected and (now - self.last).total_seconds() >= ALIVE_EVERY
        if len(self.pending) < BATCH_ITEMS and not due and not alive:
            return None
        times = [r.created_at for r in self.pending if isinstance(r, MentionRecord)]
        batch = Batch(self.pending, None, max(times, default=None), "stream", self.heard)
        self.pending, self.first, self.last, self.heard = [], None, now, False
        return batch


def reported(runtime: Runtime, found: queue.Queue[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """What a stream's reader threads report, as (kind, value), and ("", None) every half
    second without a report (time for a batch to fall due); an error they report is raised
    here, and a stop request ends the stream (``Stopped``)."""
    while True:
        if runtime.stop.is_set():
            raise Stopped
        try:
            kind, value = found.get(timeout=0.5)
        except queue.Empty:
            kind, value = "", None
        if kind == "error":
            raise value
        yield kind, value
