"""One incident as the faces show it (the web's incident page; ``/api/v1/incidents/{id}``):
what it is, its posts hour by hour, its latest posts, every department's item for it, and the
volume spikes it was part of. Nothing here writes. The ranking of incidents is the
``harken report incidents`` report (harken.reports.incidents).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from harken.errors import ItemNotFound
from harken.queue.items import STATUSES
from harken.queue.views import list_items
from harken.routing.storm_merge import merged_into
from harken.store import Store
from harken.store.repo import ItemFilter
from harken.store.tables import Author, Classification, Incident, Mention, Spike

HOURS_SHOWN = 72  # an incident's last three days, hour by hour
POSTS_SHOWN = 50


class IncidentNotFound(ItemNotFound):
    """No incident has this id (a 404, as for an item)."""


def incident_detail(store: Store, incident_id: int, posts: int = POSTS_SHOWN) -> dict[str, Any]:
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise IncidentNotFound(
                f"no incident #{incident_id}", hint="the incidents page lists the live ones"
            )
        into = merged_into(incident)
        while into is not None:  # a storm's fragment, merged: its posts are in the other one
            survivor = session.get(Incident, into)
            if survivor is None or merged_into(survivor) is None:
                break
            into = merged_into(survivor)  # merged in turn since
        if into is not None:
            raise IncidentNotFound(
                f"incident #{incident_id} was merged into incident #{into}",
                hint=f"open incident #{into}: it holds this one's posts and items",
            )
        first_hour = incident.first_seen.replace(minute=0, second=0, microsecond=0)
        start = max(first_hour, incident.last_seen - timedelta(hours=HOURS_SHOWN))
        hours = _hourly(session, incident_id, start, incident.last_seen)
        latest = session.execute(
            select(Mention, Author, Classification)
            .join(Author, Author.id == Mention.author_id)
            .outerjoin(Classification, Classification.mention_id == Mention.id)
            .where(Mention.incident_id == incident_id)
            .order_by(Mention.created_at.desc(), Mention.id.desc())  # type: ignore[attr-defined]
            .limit(posts)
        ).all()
        spikes = session.execute(
            select(Spike)
            .where(
                Spike.brand == incident.brand,
                Spike.hour_start >= first_hour,
                Spike.hour_start <= incident.last_seen,
            )
            .order_by(Spike.hour_start, Spike.series)
        ).scalars()
        spike_rows = [
            {
                "hour_start": s.hour_start.isoformat(),
                "series": s.series,
                "count": s.count,
                "baseline": round(s.baseline, 2),
                "ratio": round(s.ratio, 1),
                "lists_this_incident": incident_id in (s.top_incidents or []),
                "terms": list(s.terms or []),
            }
            for s in spikes
        ]
        summary = {
            "id": incident.id,
            "brand": incident.brand,
            "size": incident.size,
            "status": incident.status,
            "first_seen": incident.first_seen.isoformat(),
            "last_seen": incident.last_seen.isoformat(),
            "top_mention_id": incident.top_mention_id,
            "top_risk": incident.top_risk,
        }
    every = ItemFilter(statuses=STATUSES, incident_id=incident_id)
    return {
        **summary,
        "hours": hours,
        "posts": [
            {
                "mention_id": m.id,
                "platform": m.platform,
                "url": m.url,
                "created_at": m.created_at.isoformat(),
                "text": m.text,
                "author": a.handle,
                "sentiment": c.sentiment if c else None,
                "risk": c.risk if c else None,
                "flags": list(m.flags or []),
            }
            for m, a, c in latest
        ],
        "items": list_items(store, None, None, 200, where=every),
        "spikes": spike_rows,
    }


def _hourly(session: Any, incident_id: int, start: Any, end: Any) -> list[dict[str, Any]]:
    """Posts per hour from ``start`` to ``end``, empty hours included (counted in Python: the
    hour-truncating SQL differs between SQLite and PostgreSQL, and there are few posts)."""
    times = session.execute(
        select(Mention.created_at).where(
            Mention.incident_id == incident_id, Mention.created_at >= start
        )
    ).scalars()
    counts: dict[Any, int] = {}
    for when in times:
        hour = when.replace(minute=0, second=0, microsecond=0)
        counts[hour] = counts.get(hour, 0) + 1
    hours = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        hours.append({"hour_start": hour.isoformat(), "posts": counts.get(hour, 0)})
        hour += timedelta(hours=1)
    return hours
