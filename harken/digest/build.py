"""The daily escalation digest for PR: the 24 hours up to ``digest.time`` in ``digest.timezone``.

``build_digest`` reads the store once and returns a ``Digest`` (model.py: plain data, stored
with the digest alert and rendered later, identically, by render.py). ``digest_window`` says
which 24 hours a digest covers.

Every query stays inside a window, on an indexed column first, so a store of millions of
mentions answers in milliseconds:

* mentions by ``created_at`` (ix_mentions_created_at): volume, sentiment, share of voice and
  the incidents active in the window (an incident is active when one of its posts is);
* spikes by ``hour_start`` (ix_spikes_hour); held alerts by ``status`` (ix_alerts_status);
* queue items through the mention that opened them: the pipeline creates an item in the
  transaction that routes its first mention and sets both ``QueueItem.created_at`` and
  ``Mention.routed_at`` to the same time, so ix_mentions_routed_at bounds the items created
  (or due: ``created_at <= due_at <= created_at + the longest SLA``) in a window.

An item's SLA clock stops at its first response, or when it is closed without one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session, col

from harken.config import Config
from harken.digest.model import (
    Breach,
    BreachCount,
    Digest,
    Headline,
    HeldAlert,
    IncidentEntry,
    ItemState,
    SentimentCounts,
    SpikeEntry,
    VoiceGroup,
    VoiceRow,
)
from harken.reports import voice
from harken.store.complaints import complaint_count, not_own
from harken.store.tables import (
    Alert,
    Author,
    Classification,
    Incident,
    Mention,
    QueueItem,
    Spike,
    utcnow,
)

SENTIMENTS = ("negative", "neutral", "positive")
TREND_DAYS = 14
TEXT_LIMIT = 1000  # characters of a post kept in the digest (the page shows less)
BREACH_TEXT_LIMIT = 300
# Listed at most (all are counted): a digest stays a page, and its JSON a few hundred kB.
BREACH_LIMIT = 200
HELD_LIMIT = 200


# --- the window -----------------------------------------------------------------------------


def digest_window(
    config: Config, day: date | None, now: datetime
) -> tuple[date, datetime, datetime]:
    """The digest of local date ``day`` covers the 24 hours (23 or 25 across a DST change)
    up to that day's ``digest.time``; with no day, the latest digest time at or before
    ``now``. Returns (day, start, end) with start and end as aware UTC datetimes."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(config.digest.timezone)
    if day is None:
        day = now.astimezone(zone).date()
        if digest_time(config, day) > now:
            day -= timedelta(days=1)
    return day, digest_time(config, day - timedelta(days=1)), digest_time(config, day)


def digest_time(config: Config, day: date) -> datetime:
    """``digest.time`` on local date ``day``, in UTC. A time skipped by a DST change is
    read with the offset before the change (02:30 becomes 03:30), as zoneinfo does."""
    hours, minutes = (int(part) for part in config.digest.time.split(":"))
    local = datetime.combine(day, time(hours, minutes), tzinfo=ZoneInfo(config.digest.timezone))
    return local.astimezone(UTC)


# --- building it ----------------------------------------------------------------------------


def build_digest(
    session: Session, config: Config, day: date | None = None, now: datetime | None = None
) -> Digest:
    now = now or utcnow()
    day, start, end = digest_window(config, day, now)
    headline, incidents, breach_counts, spikes = _window(session, config, start, end, now)
    previous = _window(session, config, digest_time(config, day - timedelta(days=2)), start, now)
    days = [day - timedelta(days=n) for n in range(TREND_DAYS, -1, -1)]
    held = _held(session, start, end)
    return Digest(
        day=day,
        timezone=config.digest.timezone,
        start=start,
        end=end,
        generated_at=now,
        brands=tuple(own_brands(config)),
        department=config.digest.department,
        headline=headline,
        previous=previous[0],
        incidents=_ranked(session, incidents, config.digest.top),
        breaches=_breaches(session, config, start, end, now),
        breach_counts=breach_counts,
        spikes=tuple(spikes),
        hourly=_sentiment_series(session, _hours(start, end)),
        daily=_sentiment_series(session, [digest_time(config, d) for d in days]),
        voice=_share_of_voice(session, config, start, end),
        held=held[:HELD_LIMIT],
        held_total=len(held),
        workspace=config.web.public_url.rstrip("/") if config.web.public_url else None,
    )


def _window(
    session: Session, config: Config, start: datetime, end: datetime, now: datetime
) -> tuple[Headline, pd.DataFrame, tuple[BreachCount, ...], list[SpikeEntry]]:
    """One window's headline numbers, and what they were counted from."""
    incidents = _active_incidents(session, start, end)
    counts = _breach_counts(session, config, start, end, now)
    spikes = _spikes(session, start, end)
    breaches = sum(c.total for c in counts)
    return (
        _headline(session, start, end, incidents, breaches, len(spikes)),
        incidents,
        counts,
        spikes,
    )


def own_brands(config: Config) -> list[str]:
    """Configured brands that are not only there as someone's competitor."""
    rivals = {c for b in config.brands for c in b.competitors}
    own = [b.name for b in config.brands if b.name not in rivals]
    return own or [b.name for b in config.brands]


def _in_window(column: Any, start: datetime, end: datetime) -> Any:
    return (column >= start) & (column < end)


def _headline(
    session: Session,
    start: datetime,
    end: datetime,
    incidents: pd.DataFrame,
    breaches: int,
    spikes: int,
) -> Headline:
    negative = case((col(Classification.sentiment) == "negative", 1), else_=0)
    complaint = complaint_count()
    mentions, classified, negatives, complaints = session.execute(
        select(
            func.count(col(Mention.id)),
            func.count(col(Classification.id)),
            func.coalesce(func.sum(negative), 0),
            func.coalesce(func.sum(complaint), 0),
        )
        .select_from(Mention)
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(_in_window(col(Mention.created_at), start, end), not_own())
    ).one()
    return Headline(
        mentions=int(mentions),
        negative=int(negatives),
        classified=int(classified),
        complaints=int(complaints),
        incidents=len(incidents),
        new_incidents=int(incidents["new"].sum()) if len(incidents) else 0,
        queue_items=_items_created(session, start, end),
        sla_breaches=breaches,
        spikes=spikes,
    )


def _items_created(session: Session, start: datetime, end: datetime) -> int:
    return int(
        session.execute(
            select(func.count(col(QueueItem.id)))
            .select_from(Mention)
            .join(QueueItem, col(QueueItem.mention_id) == col(Mention.id))
            .where(
                _in_window(col(Mention.routed_at), start, end),
                _in_window(col(QueueItem.created_at), start, end),
            )
        ).scalar_one()
    )


INCIDENT_COLUMNS = ["id", "brand", "size", "first_seen", "last_seen", "top", "risk", "posts"]


def _active_incidents(session: Session, start: datetime, end: datetime) -> pd.DataFrame:
    """Incidents with a post in the window: their posts there and their top post's risk."""
    posts = (
        select(col(Mention.incident_id), func.count(col(Mention.id)).label("posts"))
        .where(
            _in_window(col(Mention.created_at), start, end), col(Mention.incident_id).is_not(None)
        )
        .group_by(col(Mention.incident_id))
        .subquery()
    )
    rows = session.execute(
        select(
            col(Incident.id),
            col(Incident.brand),
            col(Incident.size),
            col(Incident.first_seen),
            col(Incident.last_seen),
            col(Incident.top_mention_id),
            # Risk moves after the post joined (engagement, incident growth): rank by today's.
            func.coalesce(col(Classification.risk), col(Incident.top_risk)),
            posts.c.posts,
        )
        .join(posts, posts.c.incident_id == col(Incident.id))
        .outerjoin(Classification, col(Classification.mention_id) == col(Incident.top_mention_id))
    ).all()
    frame = pd.DataFrame(rows, columns=INCIDENT_COLUMNS)
    frame["new"] = [first >= start for first in frame["first_seen"]]
    return frame


def _ranked(session: Session, incidents: pd.DataFrame, top: int) -> tuple[IncidentEntry, ...]:
    if not len(incidents):
        return ()
    chosen = incidents.sort_values(["risk", "size", "id"], ascending=[False, False, True]).head(top)
    ids = [int(i) for i in chosen["id"]]
    posts = _top_posts(session, [int(m) for m in chosen["top"].dropna()])
    items = _items_of(session, ids)
    entries = []
    for rank, row in enumerate(chosen.itertuples(index=False), start=1):
        found = posts.get(int(row.top)) if pd.notna(row.top) else None
        if found is None:
            continue  # an incident without its top post (deleted): nothing to show
        mention, author, c = found
        entries.append(
            IncidentEntry(
                rank=rank,
                id=int(row.id),
                brand=str(row.brand),
                size=int(row.size),
                posts_in_window=int(row.posts),
                first_seen=row.first_seen,
                last_seen=row.last_seen,
                new=bool(row.new),
                risk=float(row.risk),
                platform=mention.platform,
                text=mention.text[:TEXT_LIMIT],
                url=mention.url,
                language=(c.language if c else None) or mention.language,
                posted_at=mention.created_at,
                author=author.handle,
                author_name=author.name,
                followers=author.followers,
                verified=author.verified,
                sentiment=c.sentiment if c else None,
                topics=tuple(c.topics) if c else (),
                risk_factors=tuple(c.risk_factors) if c else (),
                items=items.get(int(row.id), ()),
            )
        )
    return tuple(entries)


Post = tuple[Mention, Author, Classification | None]


def _top_posts(session: Session, mention_ids: list[int]) -> dict[int, Post]:
    rows = session.execute(
        select(Mention, Author, Classification)
        .join(Author, col(Author.id) == col(Mention.author_id))
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(col(Mention.id).in_(mention_ids))
    ).all()
    return {m.id: (m, a, c) for m, a, c in rows}


def _items_of(session: Session, incident_ids: list[int]) -> dict[int, tuple[ItemState, ...]]:
    rows = session.execute(
        select(QueueItem)
        .where(col(QueueItem.incident_id).in_(incident_ids))
        .order_by(col(QueueItem.incident_id), col(QueueItem.id))
    ).scalars()
    found: dict[int, list[ItemState]] = {}
    for item in rows:
        assert item.id is not None and item.incident_id is not None
        found.setdefault(item.incident_id, []).append(
            ItemState(
                id=item.id,
                department=item.department,
                status=item.status,
                priority=item.priority,
                created_at=item.created_at,
                due_at=item.due_at,
                responded_at=item.responded_at,
                closed_at=item.closed_at,
            )
        )
    return {k: tuple(v) for k, v in found.items()}


def longest_sla(config: Config) -> timedelta:
    slas = [d.sla for d in config.departments]
    slas += [s for d in config.departments for s in d.sla_by_priority.values()]
    return max(slas, default=timedelta(hours=4))


def _breach_filter(config: Config, start: datetime, until: datetime) -> Any:
    """Items due in [start, until) with no response and no closing by their due time."""
    due, responded, closed = (
        col(QueueItem.due_at),
        col(QueueItem.responded_at),
        col(QueueItem.closed_at),
    )
    return and_(
        _in_window(col(Mention.routed_at), start - longest_sla(config), until),
        _in_window(due, start, until),
        or_(responded.is_(None), responded > due),
        or_(closed.is_(None), closed > due),
    )


def _breach_counts(
    session: Session, config: Config, start: datetime, end: datetime, now: datetime
) -> tuple[BreachCount, ...]:
    until = min(end, now)  # an item due after now has not been late yet
    if until <= start:
        return ()
    waiting = case(
        (and_(col(QueueItem.responded_at).is_(None), col(QueueItem.closed_at).is_(None)), 1),
        else_=0,
    )
    rows = session.execute(
        select(col(QueueItem.department), func.count(), func.sum(waiting))
        .select_from(Mention)
        .join(QueueItem, col(QueueItem.mention_id) == col(Mention.id))
        .where(_breach_filter(config, start, until))
        .group_by(col(QueueItem.department))
    ).all()
    counts = [BreachCount(str(d), int(total), int(w or 0)) for d, total, w in rows]
    return tuple(sorted(counts, key=lambda c: (-c.total, c.department)))


def _breaches(
    session: Session, config: Config, start: datetime, end: datetime, now: datetime
) -> tuple[Breach, ...]:
    """The first BREACH_LIMIT breaches by due time (the longest overdue first)."""
    until = min(end, now)
    if until <= start:
        return ()
    rows = session.execute(
        select(
            col(QueueItem.id),
            col(QueueItem.department),
            col(QueueItem.priority),
            col(QueueItem.status),
            col(QueueItem.incident_id),
            col(QueueItem.due_at),
            col(QueueItem.responded_at),
            col(QueueItem.closed_at),
            col(Mention.platform),
            func.substr(col(Mention.text), 1, BREACH_TEXT_LIMIT),
            col(Mention.url),
            col(Author.handle),
        )
        .select_from(Mention)
        .join(QueueItem, col(QueueItem.mention_id) == col(Mention.id))
        .join(Author, col(Author.id) == col(Mention.author_id))
        .where(_breach_filter(config, start, until))
        .order_by(col(QueueItem.due_at), col(QueueItem.id))
        .limit(BREACH_LIMIT)
    ).all()
    found = []
    for item_id, department, priority, status, incident, due, responded, closed, *post in rows:
        stopped = min((t for t in (responded, closed) if t), default=None)
        platform, text, url, handle = post
        found.append(
            Breach(
                item_id=item_id,
                department=department,
                priority=priority,
                status=status,
                incident_id=incident,
                due_at=due,
                responded_at=stopped,
                late_by_s=((stopped or now) - due).total_seconds(),
                platform=platform,
                author=handle,
                text=text,
                url=url,
            )
        )
    return tuple(found)


def _spikes(session: Session, start: datetime, end: datetime) -> list[SpikeEntry]:
    rows = session.execute(
        select(Spike)
        .where(_in_window(col(Spike.hour_start), start, end))
        .order_by(col(Spike.hour_start), col(Spike.brand), col(Spike.series))
    ).scalars()
    return [
        SpikeEntry(
            id=s.id,
            brand=s.brand,
            series=s.series,
            hour_start=s.hour_start,
            count=s.count,
            baseline=s.baseline,
            ratio=s.ratio,
            p_value=s.p_value,
            terms=tuple(s.terms),
            top_incidents=tuple(s.top_incidents),
        )
        for s in rows
    ]


def _hours(start: datetime, end: datetime) -> list[datetime]:
    # Steps of one real hour in UTC: a DST day simply has 23 or 25 of them.
    count = int((end - start) / timedelta(hours=1))
    return [start + timedelta(hours=h) for h in range(count)] + [end]


def _sentiment_series(session: Session, edges: Sequence[datetime]) -> tuple[SentimentCounts, ...]:
    """Mentions by sentiment between consecutive edges, counted by the database in one pass
    (a CASE picks each post's bucket), so 14 days of posts never leave it."""
    bucket = case(
        *[(col(Mention.created_at) < edge, i) for i, edge in enumerate(edges[1:-1])],
        else_=len(edges) - 2,
    )
    inner = (
        select(bucket.label("bucket"), col(Classification.sentiment).label("sentiment"))
        .select_from(Mention)
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(_in_window(col(Mention.created_at), edges[0], edges[-1]), not_own())
        .subquery()
    )
    # Grouped outside: PostgreSQL would not match a CASE repeated with fresh parameters.
    rows = session.execute(
        select(inner.c.bucket, inner.c.sentiment, func.count()).group_by(
            inner.c.bucket, inner.c.sentiment
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["bucket", "sentiment", "n"])
    frame["sentiment"] = frame["sentiment"].fillna("unclassified")
    table = frame.pivot_table(
        index="bucket", columns="sentiment", values="n", aggfunc="sum", fill_value=0
    )
    table = table.reindex(
        index=range(len(edges) - 1), columns=[*SENTIMENTS, "unclassified"], fill_value=0
    )
    return tuple(
        SentimentCounts(
            start=edges[i],
            end=edges[i + 1],
            negative=int(row["negative"]),
            neutral=int(row["neutral"]),
            positive=int(row["positive"]),
            unclassified=int(row["unclassified"]),
        )
        for i, row in table.iterrows()
    )


def _share_of_voice(
    session: Session, config: Config, start: datetime, end: datetime
) -> tuple[VoiceGroup, ...]:
    collected = {b.name for b in config.brands}
    groups = [b for b in config.brands if b.competitors]
    if not groups:
        return ()
    wanted = {b.name for b in groups} | {c for b in groups for c in b.competitors if c in collected}
    rows = session.execute(
        select(
            col(Mention.brand),
            col(Mention.author_id),
            col(Author.followers),
            col(Classification.sentiment),
            *(getattr(Mention, name) for name in voice.ENGAGEMENT),
        )
        .join(Author, col(Author.id) == col(Mention.author_id))
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(
            _in_window(col(Mention.created_at), start, end),
            col(Mention.brand).in_(wanted),
            not_own(),
        )
    ).all()
    frame = pd.DataFrame(
        rows, columns=["brand", "author_id", "followers", "sentiment", *voice.ENGAGEMENT]
    )
    table = voice.per_brand_counts(frame)
    per_brand = {
        str(brand): (
            int(r["mentions"]),
            int(r["negative"] + r["neutral"] + r["positive"]),
            int(r["negative"]),
            int(r["reach"]),
        )
        for brand, r in table.iterrows()
    }
    result = []
    for brand in groups:
        names = [brand.name] + [c for c in brand.competitors if c in collected]
        total = sum(per_brand.get(n, (0, 0, 0, 0))[0] for n in names)
        result.append(
            VoiceGroup(
                brand=brand.name,
                rows=tuple(_voice_row(n, per_brand.get(n, (0, 0, 0, 0)), total) for n in names),
                not_listened=tuple(c for c in brand.competitors if c not in collected),
            )
        )
    return tuple(result)


def _voice_row(brand: str, counts: tuple[int, int, int, int], total: int) -> VoiceRow:
    mentions, classified, negative, reach = counts
    return VoiceRow(
        brand=brand,
        mentions=mentions,
        share=mentions / total if total else 0.0,
        negative_share=negative / classified if classified else None,
        reach=reach,
    )


def _held(session: Session, start: datetime, end: datetime) -> tuple[HeldAlert, ...]:
    rows = session.execute(
        select(Alert, QueueItem, Mention, Spike)
        .outerjoin(QueueItem, col(QueueItem.id) == col(Alert.queue_item_id))
        .outerjoin(
            Mention,
            col(Mention.id) == func.coalesce(col(Alert.mention_id), col(QueueItem.mention_id)),
        )
        .outerjoin(Spike, col(Spike.id) == col(Alert.spike_id))
        .where(col(Alert.status) == "held", _in_window(col(Alert.created_at), start, end))
        .order_by(col(Alert.id))
    ).all()
    # Console and Slack each hold their own copy: PR wants one line per thing held.
    merged: dict[tuple[Any, ...], HeldAlert] = {}
    for alert, item, mention, spike in rows:
        key = (alert.kind, alert.queue_item_id, alert.spike_id, alert.channel)
        if key in merged:
            seen = merged[key]
            merged[key] = dataclasses.replace(seen, sinks=(*seen.sinks, alert.sink))
            continue
        merged[key] = HeldAlert(
            alert_id=alert.id,
            kind=alert.kind,
            department=alert.channel,
            sinks=(alert.sink,),
            note=alert.note or "",
            created_at=alert.created_at,
            item_id=alert.queue_item_id,
            incident_id=alert.incident_id or (item.incident_id if item else None),
            priority=item.priority if item else None,
            text=mention.text[:TEXT_LIMIT] if mention else None,
            spike_series=f"{spike.brand} {spike.series}".strip() if spike else None,
        )
    return tuple(merged.values())
