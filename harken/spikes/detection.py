"""Spike detection on stored mentions: the hourly job, its backtest, and what it found.

For every brand and series (all posts, negative posts, each topic) the hourly counts of the
whole range plus its baseline weeks come from one grouped query; ``harken.spikes.method``
judges each hour from the hours before it. A spike is explained by the incidents with most
posts in it and the terms that set its posts apart from the week before. ``check_hour`` and
``check_due`` store spikes once per (brand, series, hour); ``backtest`` replays stored history
and writes nothing. The method: docs/spikes.md.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, literal_column, or_, select
from sqlmodel import Session, col

from harken.config import SpikesConfig
from harken.spikes.method import (
    DAY,
    HOUR,
    TOPIC_PREFIX,
    WEEK,
    HourlyCounts,
    Verdict,
    drivers,
    floor_hour,
    judge,
    series_of,
)
from harken.store import Store
from harken.store.complaints import not_own
from harken.store.json_text import json_text_holds
from harken.store.repo import dialect_insert
from harken.store.tables import Classification, Mention, Spike, utcnow

TOP_INCIDENTS = 5
DRIVER_TERMS = 8
DRIVER_WINDOW = 7 * DAY  # the spike's texts are set against this much of the series before it
MAX_TEXTS = 2000  # per side of the comparison; more is sampled evenly

OnNew = Callable[[Session, list[Spike]], None]
Keywords = Mapping[str, Sequence[str]]  # brand -> its keywords, kept out of the drivers


@dataclass(frozen=True)
class SpikeFinding:
    brand: str
    series: str
    hour_start: datetime
    count: int
    baseline: float
    ratio: float
    p_value: float
    top_incidents: list[int]
    terms: list[str]
    basis: str = ""  # "hour of week" or "hour of day" (fewer than two weeks of history)

    @classmethod
    def of(cls, spike: Spike) -> SpikeFinding:
        """A stored spike in the shape the backtest reports."""
        return cls(
            spike.brand,
            spike.series,
            spike.hour_start,
            spike.count,
            spike.baseline,
            spike.ratio,
            spike.p_value,
            list(spike.top_incidents),
            list(spike.terms),
        )


def check_hour(
    store: Store,
    settings: SpikesConfig,
    hour_start: datetime,
    brands: Sequence[str] | None = None,
    keywords: Keywords | None = None,
    now: datetime | None = None,
) -> list[Spike]:
    """Detect spikes in one completed hour and store them; returns only the new ones."""
    return _check(store, settings, [floor_hour(hour_start)], brands, keywords, now)


def check_due(
    store: Store,
    settings: SpikesConfig,
    now: datetime,
    brands: Sequence[str] | None = None,
    keywords: Keywords | None = None,
    hours: int = 24,
    on_new: OnNew | None = None,
) -> list[Spike]:
    """Check the last ``hours`` completed hours: late posts and missed runs are caught up,
    and what is already stored is not found twice. ``on_new(session, spikes)`` runs in the
    transaction that stores them (the daemon writes their alerts there: stored means alerted)."""
    last = floor_hour(now) - HOUR
    due = [last - HOUR * k for k in reversed(range(hours))]
    return _check(store, settings, due, brands, keywords, now, on_new)


def backtest(
    store: Store,
    settings: SpikesConfig,
    start: datetime,
    end: datetime,
    brands: Sequence[str] | None = None,
    keywords: Keywords | None = None,
) -> list[SpikeFinding]:
    """Replay every complete hour in [start, end) on stored history; writes nothing."""
    hour = floor_hour(start)
    if hour < start:
        hour += HOUR
    hours = []
    while hour + HOUR <= end:
        hours.append(hour)
        hour += HOUR
    with store.session() as session:
        return _detect(session, settings, hours, brands, keywords or {})


def recent_spikes(store: Store, since: datetime) -> list[Spike]:
    """Stored spikes of the hours from ``since`` on, oldest first."""
    statement = (
        select(Spike)
        .where(col(Spike.hour_start) >= since)
        .order_by(col(Spike.hour_start), col(Spike.brand), col(Spike.series))
    )
    with store.session() as session:
        return list(session.execute(statement).scalars())


def _check(
    store: Store,
    settings: SpikesConfig,
    hours: list[datetime],
    brands: Sequence[str] | None,
    keywords: Keywords | None,
    now: datetime | None,
    on_new: OnNew | None = None,
) -> list[Spike]:
    with store.session() as session:
        known = _stored(session, hours[0], hours[-1] + HOUR)
        findings = _detect(session, settings, hours, brands, keywords or {}, skip=known)
        new = _insert(session, findings, now or utcnow())
        if on_new is not None and new:
            on_new(session, new)
        return new


def _detect(
    session: Session,
    settings: SpikesConfig,
    hours: list[datetime],
    brands: Sequence[str] | None,
    keywords: Keywords,
    skip: set[tuple[str, str, datetime]] | None = None,
) -> list[SpikeFinding]:
    if not hours:
        return []
    start = hours[0] - max(WEEK * settings.weeks, DAY * 7)
    findings = []
    for (brand, series), history in _hourly(session, settings, start, hours[-1] + HOUR, brands):
        for hour in hours:
            verdict = judge(history, hour, settings)
            if verdict.spike and (brand, series, hour) not in (skip or set()):
                exclude = [brand, *keywords.get(brand, ())]
                explained = _explain(session, settings, (brand, series), verdict, history, exclude)
                findings.append(explained)
    return sorted(findings, key=lambda f: (f.hour_start, f.brand, f.series))


# --- counting ---


def _hourly(
    session: Session,
    settings: SpikesConfig,
    start: datetime,
    end: datetime,
    brands: Sequence[str] | None,
) -> list[tuple[tuple[str, str], HourlyCounts]]:
    """Every (brand, series) with its hourly counts in [start, end), in one grouped query."""
    bucket = _hour_bucket(session)
    statement = (
        select(
            col(Mention.brand),
            bucket,
            col(Classification.sentiment),
            col(Classification.topics),
            func.count(),
        )
        .select_from(Mention)
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(col(Mention.created_at) >= start, col(Mention.created_at) < end, not_own())
        .group_by(
            col(Mention.brand), bucket, col(Classification.sentiment), col(Classification.topics)
        )
    )
    if brands is not None:
        statement = statement.where(col(Mention.brand).in_(brands))
    counts: dict[tuple[str, str], Counter[datetime]] = defaultdict(Counter)
    for brand, hour, sentiment, topics, n in session.execute(statement):
        for series in series_of(settings, sentiment, topics or ()):
            counts[(brand or "", series)][_as_hour(hour)] += n
    observed = _listening_since(session, start, end)
    return [
        (key, HourlyCounts(observed[key[0]], dict(by_hour)))
        for key, by_hour in sorted(counts.items())
    ]


def _hour_bucket(session: Session) -> Any:
    # Constants as literals: PostgreSQL matches a GROUP BY expression to the SELECT one only
    # when they are the same text, and two bound parameters are two different texts.
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), col(Mention.created_at))
        return func.date_trunc(literal_column("'hour'"), utc)
    return func.strftime(literal_column("'%Y-%m-%d %H'"), col(Mention.created_at))


def _as_hour(value: str | datetime) -> datetime:
    if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH"
        return datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _listening_since(session: Session, start: datetime, end: datetime) -> dict[str, datetime]:
    """Per brand, the first hour harken has posts for: the hours before are unknown, not quiet
    (a brand added last week has no history, rather than four weeks of zeros)."""
    statement = (
        select(col(Mention.brand), func.min(col(Mention.created_at)))
        .where(col(Mention.created_at) < end)
        .group_by(col(Mention.brand))
    )
    since: dict[str, datetime] = {}
    for brand, first in session.execute(statement):
        hour = max(start, floor_hour(first))
        since[brand or ""] = min(hour, since.get(brand or "", hour))  # None and "" are one
    return since


# --- explaining ---


def _explain(
    session: Session,
    settings: SpikesConfig,
    key: tuple[str, str],
    verdict: Verdict,
    history: HourlyCounts,
    exclude: Sequence[str],
) -> SpikeFinding:
    (brand, series), hour = key, verdict.hour_start
    rows = _posts(session, settings, key, hour, hour + HOUR)
    # The week before can be large: read an even sample of it (every k-th id).
    window = sum(history.at(hour - HOUR * k) or 0 for k in range(1, DRIVER_WINDOW // HOUR + 1))
    before = _posts(
        session, settings, key, hour - DRIVER_WINDOW, hour, every=math.ceil(window / MAX_TEXTS)
    )
    spike_texts = [text for text, _ in rows[:: math.ceil(len(rows) / MAX_TEXTS) or 1]]
    terms = drivers(spike_texts, [text for text, _ in before], DRIVER_TERMS, exclude)
    return SpikeFinding(
        brand=brand,
        series=series,
        hour_start=hour,
        count=verdict.count,
        baseline=float(verdict.baseline or 0.0),
        ratio=verdict.ratio,
        p_value=verdict.p_value,
        top_incidents=_top_incidents(rows),
        terms=terms,
        basis=verdict.basis,
    )


def _posts(
    session: Session,
    settings: SpikesConfig,
    key: tuple[str, str],
    start: datetime,
    end: datetime,
    every: int = 1,
) -> list[tuple[str, int | None]]:
    """(text, incident) of the series' posts in [start, end); with ``every`` > 1, only the
    posts whose id is a multiple of it."""
    brand, series = key
    columns: list[Any] = [
        col(Mention.text),
        col(Mention.incident_id),
        col(Classification.sentiment),
    ]
    if series.startswith(TOPIC_PREFIX):
        columns.append(col(Classification.topics))
    statement = (
        select(*columns)
        .select_from(Mention)
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(col(Mention.created_at) >= start, col(Mention.created_at) < end, not_own())
        .where(*_series_prefilter(brand, series))
        .order_by(col(Mention.id))
    )
    if every > 1:
        statement = statement.where(col(Mention.id) % every == 0)
    rows = session.execute(statement).all()
    return [
        (text, incident)
        for text, incident, sentiment, *topics in rows
        if series in series_of(settings, sentiment, topics[0] if topics else ())
    ]


def _series_prefilter(brand: str, series: str) -> list[Any]:
    """SQL that narrows the rows to the series; ``series_of`` has the last word."""
    if brand:
        clauses = [col(Mention.brand) == brand]
    else:
        clauses = [or_(col(Mention.brand).is_(None), col(Mention.brand) == "")]
    if series == "negative":
        clauses.append(col(Classification.sentiment) == "negative")
    elif series.startswith(TOPIC_PREFIX):
        clauses.append(_has_topic(series.removeprefix(TOPIC_PREFIX)))
    return clauses


def _has_topic(topic: str) -> Any:
    return json_text_holds(col(Classification.topics), topic)


def _top_incidents(rows: Iterable[tuple[str, int | None]]) -> list[int]:
    sizes = Counter(incident for _, incident in rows if incident is not None)
    ranked = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
    return [incident for incident, _ in ranked[:TOP_INCIDENTS]]


# --- storing ---


def _stored(session: Session, start: datetime, end: datetime) -> set[tuple[str, str, datetime]]:
    statement = select(col(Spike.brand), col(Spike.series), col(Spike.hour_start)).where(
        col(Spike.hour_start) >= start,
        col(Spike.hour_start) < end,
    )
    return {(brand, series, hour) for brand, series, hour in session.execute(statement)}


def _insert(session: Session, findings: list[SpikeFinding], now: datetime) -> list[Spike]:
    """Insert each finding once; another process may have stored it meanwhile."""
    statement = (
        dialect_insert(session, Spike)
        .on_conflict_do_nothing(index_elements=["brand", "series", "hour_start"])
        .returning(col(Spike.id))
    )
    new_ids = []
    for f in findings:
        values = {
            "brand": f.brand,
            "series": f.series,
            "hour_start": f.hour_start,
            "count": f.count,
            "baseline": f.baseline,
            "ratio": f.ratio,
            "p_value": f.p_value,
            "top_incidents": f.top_incidents,
            "terms": f.terms,
            "detected_at": now,
        }
        inserted = session.execute(statement.values(**values)).first()
        if inserted is not None:
            new_ids.append(inserted[0])
    if not new_ids:
        return []
    found = select(Spike).where(col(Spike.id).in_(new_ids)).order_by(col(Spike.id))
    return list(session.execute(found).scalars())
