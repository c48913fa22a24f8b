"""Queries about live sources: cursors, health, engagement snapshots. Callers own the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from harken.store.repo import dialect_insert
from harken.store.tables import (
    Classification,
    Cursor,
    Mention,
    MetricSnapshot,
    SourceHealth,
    utcnow,
)

METRICS = ("likes", "reposts", "replies", "quotes", "impressions")


def get_cursor(session: Session, source: str) -> str | None:
    return session.execute(select(Cursor.value).where(Cursor.source == source)).scalar()


def set_cursor(session: Session, source: str, value: str) -> None:
    statement = dialect_insert(session, Cursor).values(
        source=source, value=value, updated_at=utcnow()
    )
    statement = statement.on_conflict_do_update(
        index_elements=["source"],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
    )
    session.execute(statement)


def get_health(session: Session, source: str) -> SourceHealth | None:
    return session.execute(select(SourceHealth).where(SourceHealth.source == source)).scalar()


def all_health(session: Session) -> dict[str, SourceHealth]:
    return {h.source: h for h in session.execute(select(SourceHealth)).scalars()}


def health_for_update(session: Session, source: str) -> SourceHealth:
    """The source's health row, created on first use."""
    session.execute(
        dialect_insert(session, SourceHealth)
        .values(
            source=source,
            consecutive_failures=0,
            quota={},
            last_stored=0,
            last_rejected=0,
            rejected_total=0,
        )
        .on_conflict_do_nothing(index_elements=["source"])
    )
    health = get_health(session, source)
    assert health is not None
    return health


def collected_since(session: Session, source: str, since: datetime) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Mention)
            .where(Mention.source == source, Mention.collected_at >= since)
        ).scalar_one()
    )


def collection_delays(session: Session, source: str, since: datetime) -> list[float]:
    """Seconds between posting and collection for what the source stored since ``since``."""
    rows = session.execute(
        select(Mention.created_at, Mention.collected_at).where(
            Mention.source == source, Mention.collected_at >= since
        )
    ).all()
    return [max(0.0, (collected - created).total_seconds()) for created, collected in rows]


@dataclass(frozen=True)
class RefreshRow:
    mention_id: int
    external_id: str
    raw: dict[str, Any]
    has_snapshot: bool


def refresh_candidates(
    session: Session, source: str, since: datetime, min_risk: float, limit: int
) -> list[RefreshRow]:
    """Recent mentions from ``source`` whose risk makes their engagement worth watching."""
    snapshots = select(func.count()).where(MetricSnapshot.mention_id == Mention.id)
    rows = session.execute(
        select(Mention.id, Mention.external_id, Mention.raw, snapshots.scalar_subquery())
        .join(Classification, Classification.mention_id == Mention.id)
        .where(
            Mention.source == source,
            Mention.created_at >= since,
            Classification.risk >= min_risk,
        )
        .order_by(Classification.risk.desc(), Mention.id)
        .limit(limit)
    ).all()
    return [RefreshRow(mid, ext, raw or {}, bool(n)) for mid, ext, raw, n in rows]


def record_snapshot(
    session: Session, mention_id: int, metrics: dict[str, int], taken_at: datetime
) -> None:
    """Store a snapshot and make it the mention's current engagement."""
    values = {k: metrics.get(k) for k in METRICS}
    session.add(MetricSnapshot(mention_id=mention_id, taken_at=taken_at, **values))
    mention = session.get(Mention, mention_id)
    if mention is None:
        return
    for key in ("likes", "reposts", "replies", "quotes"):
        if values[key] is not None:
            setattr(mention, key, values[key])
    known = {k: v for k, v in values.items() if v is not None}
    mention.metrics = {**(mention.metrics or {}), **known}
    session.add(mention)


def first_snapshot(session: Session, mention_id: int) -> None:
    """The engagement seen at collection, as the series' first point (once)."""
    mention = session.get(Mention, mention_id)
    if mention is None:
        return
    metrics = {k: v for k, v in (mention.metrics or {}).items() if k in METRICS}
    session.add(MetricSnapshot(mention_id=mention_id, taken_at=mention.collected_at, **metrics))


def snapshots_of(session: Session, mention_id: int) -> list[MetricSnapshot]:
    return list(
        session.execute(
            select(MetricSnapshot)
            .where(MetricSnapshot.mention_id == mention_id)
            .order_by(MetricSnapshot.taken_at)
        ).scalars()
    )


def snapshotted(session: Session, mention_ids: list[int | None]) -> set[int]:
    """Which of these mentions have engagement snapshots (one query for a batch)."""
    ids = [i for i in mention_ids if i is not None]
    if not ids:
        return set()
    found = session.execute(
        select(MetricSnapshot.mention_id)
        .where(MetricSnapshot.mention_id.in_(ids))  # type: ignore[attr-defined]
        .distinct()
    ).scalars()
    return set(found)


def velocity(snapshots: list[MetricSnapshot]) -> dict[str, float]:
    """Growth per hour of each metric between the first and the last snapshot."""
    if len(snapshots) < 2:
        return {}
    first, last = snapshots[0], snapshots[-1]
    hours = (last.taken_at - first.taken_at).total_seconds() / 3600
    if hours <= 0:
        return {}
    rates = {}
    for key in ("likes", "reposts", "replies", "quotes"):
        start, end = getattr(first, key), getattr(last, key)
        if start is not None and end is not None:
            rates[key] = (end - start) / hours
    return rates
