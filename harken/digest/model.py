"""The daily digest as data: plain dataclasses, JSON round-trippable (``Digest.to_json`` /
``from_json``), so a digest can be stored with its alert and rendered later, identically, as an
HTML page, an e-mail, a Slack summary or terminal text (render.py). It holds the chart series,
never the PNGs. build.py fills it from the store.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

WAITING = ("new", "claimed")  # item statuses before a first response: the SLA clock runs


# --- the data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemState:
    """One department's queue item of an incident."""

    id: int
    department: str
    status: str
    priority: str
    created_at: datetime
    due_at: datetime
    responded_at: datetime | None
    closed_at: datetime | None

    @property
    def first_response_s(self) -> float | None:
        """Seconds to the first response; None while waiting (or closed without one)."""
        if self.responded_at is None:
            return None
        return (self.responded_at - self.created_at).total_seconds()

    @property
    def waiting(self) -> bool:
        return self.responded_at is None and self.status in WAITING


@dataclass(frozen=True)
class IncidentEntry:
    rank: int
    id: int
    brand: str
    size: int  # posts in the incident, ever
    posts_in_window: int
    first_seen: datetime
    last_seen: datetime
    new: bool  # its first post is in this window (else it continues from before)
    risk: float  # its top post's current risk
    platform: str
    text: str
    url: str | None
    language: str | None
    posted_at: datetime
    author: str
    author_name: str | None
    followers: int | None
    verified: bool
    sentiment: str | None
    topics: tuple[str, ...]
    risk_factors: tuple[str, ...]
    items: tuple[ItemState, ...]


@dataclass(frozen=True)
class Breach:
    """An item whose due time fell in the window and that was answered late or still waits."""

    item_id: int
    department: str
    priority: str
    status: str
    incident_id: int | None
    due_at: datetime
    responded_at: datetime | None  # its first response or closing, None while waiting
    late_by_s: float  # to the response, or to when the digest was made
    platform: str
    author: str
    text: str
    url: str | None

    @property
    def waiting(self) -> bool:
        return self.responded_at is None


@dataclass(frozen=True)
class BreachCount:
    department: str
    total: int
    waiting: int  # of them still waiting for a first response


@dataclass(frozen=True)
class SpikeEntry:
    id: int
    brand: str
    series: str
    hour_start: datetime
    count: int
    baseline: float
    ratio: float
    p_value: float
    terms: tuple[str, ...]
    top_incidents: tuple[int, ...]


@dataclass(frozen=True)
class SentimentCounts:
    """Mentions posted in [start, end), by sentiment; ``unclassified`` has none yet."""

    start: datetime
    end: datetime
    negative: int
    neutral: int
    positive: int
    unclassified: int

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive + self.unclassified

    @property
    def negative_share(self) -> float | None:
        classified = self.negative + self.neutral + self.positive
        return self.negative / classified if classified else None


@dataclass(frozen=True)
class VoiceRow:
    brand: str
    mentions: int
    share: float  # of the group's mentions, 0..1
    negative_share: float | None  # of its classified mentions
    reach: int  # followers of the distinct authors who mentioned it


@dataclass(frozen=True)
class VoiceGroup:
    """A brand against its competitors; only competitors listed under brands: are collected."""

    brand: str
    rows: tuple[VoiceRow, ...]  # the brand first, then its collected competitors
    not_listened: tuple[str, ...]  # competitors harken does not collect (not under brands:)


@dataclass(frozen=True)
class HeldAlert:
    """An alert the noise budget held (one per subject and department, whatever the sinks)."""

    alert_id: int
    kind: str
    department: str
    sinks: tuple[str, ...]
    note: str
    created_at: datetime
    item_id: int | None
    incident_id: int | None
    priority: str | None
    text: str | None  # the post's, for item alerts
    spike_series: str | None


@dataclass(frozen=True)
class Headline:
    """The numbers compared day over day."""

    mentions: int
    negative: int
    classified: int
    complaints: int
    incidents: int
    new_incidents: int
    queue_items: int
    sla_breaches: int
    spikes: int

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.classified if self.classified else None


@dataclass(frozen=True)
class Change:
    key: str
    label: str
    current: float
    previous: float
    percent: bool  # a share: shown as %, its change in percentage points

    @property
    def delta(self) -> float:
        return self.current - self.previous


@dataclass(frozen=True)
class Digest:
    day: date
    timezone: str
    start: datetime  # aware UTC
    end: datetime
    generated_at: datetime
    brands: tuple[str, ...]  # the brands it is about (not those only listed as competitors)
    department: str
    headline: Headline
    previous: Headline  # the 24 hours before the window
    incidents: tuple[IncidentEntry, ...]  # the riskiest, at most digest.top
    breaches: tuple[Breach, ...]  # the first BREACH_LIMIT, by due time
    breach_counts: tuple[BreachCount, ...]  # all of them, by department
    spikes: tuple[SpikeEntry, ...]
    hourly: tuple[SentimentCounts, ...]  # each hour of the window
    daily: tuple[SentimentCounts, ...]  # each digest day of the last 14, this one last
    voice: tuple[VoiceGroup, ...]
    held: tuple[HeldAlert, ...]  # the first HELD_LIMIT
    held_total: int
    # The web workspace's address (web.public_url): incidents and items link into it. "" for
    # links relative to the workspace itself (its digest archive); None: no links.
    workspace: str | None = None

    def changes(self) -> list[Change]:
        now, before = self.headline, self.previous
        share_now = now.negative_share or 0.0
        share_before = before.negative_share or 0.0
        return [
            Change("mentions", "Mentions", now.mentions, before.mentions, False),
            Change("negative_share", "Negative", share_now, share_before, True),
            Change("complaints", "Complaints", now.complaints, before.complaints, False),
            Change("incidents", "Incidents", now.incidents, before.incidents, False),
            Change("queue_items", "New queue items", now.queue_items, before.queue_items, False),
            Change("sla_breaches", "SLA breaches", now.sla_breaches, before.sla_breaches, False),
            Change("spikes", "Spikes", now.spikes, before.spikes, False),
        ]

    def to_json(self) -> dict[str, Any]:
        return typing.cast(dict[str, Any], _dump(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Digest:
        return typing.cast(Digest, _load(cls, data))


# --- JSON: dataclasses of plain values, tuples, dates and datetimes -------------------------


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return value


def _load(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
        return _load(kind, value)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_load(item, v) for v in value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = dataclasses.fields(kind)
        return kind(**{f.name: _load(hints[f.name], value[f.name]) for f in fields})
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if kind is float and isinstance(value, int):
        return float(value)
    return value
