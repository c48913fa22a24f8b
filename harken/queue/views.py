"""Department queues as the CLI and other faces read them: listing (the ``queue list`` JSON
contract), one item in full (``queue show``), and the author's history. Nothing here writes;
changes are ``harken.queue.actions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from harken.queue.items import load_row, replies_of
from harken.store import Store
from harken.store.repo import ItemFilter, count_queue_rows, queue_rows, tags_of
from harken.store.tables import (
    Author,
    Classification,
    Incident,
    Mention,
    QueueEvent,
    QueueItem,
    utcnow,
)
from harken.store.tickets import tickets_of
from harken.store.views import iso as _iso
from harken.store.views import item_json


def list_items(
    store: Store,
    department: str | None,
    statuses: Sequence[str] | None,
    limit: int | None,
    *,
    where: ItemFilter | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Items as ``queue list --format json`` prints them; ``where`` (``harken.queue.filters``)
    narrows them as every face's filters do."""
    now = utcnow()
    with store.session() as session:
        rows = queue_rows(session, department, statuses, limit, where=where, offset=offset, now=now)
        incidents = _incidents(session, [r.item.incident_id for r in rows])
        tags = tags_of(session, [r.item.id for r in rows])
    return [
        item_json(row, incidents.get(row.item.incident_id or -1), now, tags.get(row.item.id or -1))
        for row in rows
    ]


def count_items(store: Store, where: ItemFilter) -> int:
    with store.session() as session:
        return count_queue_rows(session, where)


def _incidents(session: Session, ids: Sequence[int | None]) -> dict[int, Incident]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    found = session.execute(select(Incident).where(Incident.id.in_(wanted))).scalars()  # type: ignore[union-attr]
    return {i.id: i for i in found if i.id is not None}


# -- one item in full -----------------------------------------------------------------------


def show_item(store: Store, item_id: int, history_limit: int = 10) -> dict[str, Any]:
    """The item, its incident, its history, its replies, and the author's history."""
    with store.session() as session:
        row = load_row(session, item_id)
        incident = session.get(Incident, row.item.incident_id) if row.item.incident_id else None
        data = item_json(row, incident, tags=tags_of(session, [item_id]).get(item_id))
        data["incident"] = _incident_json(session, incident) if incident else None
        data["events"] = [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "from": e.from_status,
                "to": e.to_status,
                "note": e.note,
                # Added with the Slack app (issue 20): the face and the person's id there.
                "via": e.via,
                "actor_ref": e.actor_ref,
            }
            for e in session.execute(
                select(QueueEvent)
                .where(QueueEvent.queue_item_id == item_id)
                .order_by(QueueEvent.id)
            ).scalars()
        ]
        data["replies"] = [
            {
                "id": r.id,
                "status": r.status,
                "text": r.text,
                "actor": r.actor,
                "url": r.url,
                "external_id": r.external_id,
                "error": r.error,
                "created_at": r.created_at.isoformat(),
                "sent_at": _iso(r.sent_at),
            }
            for r in replies_of(session, item_id)
        ]
        # Added with tickets (issue 24): the Jira or Zendesk tickets made for it.
        data["tickets"] = [
            {"system": t.system, "key": t.key, "url": t.url, "status": t.status,
             "remote_status": t.remote_status}
            for t in tickets_of(session, item_id)
        ]  # fmt: skip
        data["author_history"] = author_history(session, row.author, row.mention, history_limit)
    return data


def _incident_json(session: Session, incident: Incident) -> dict[str, Any]:
    last = incident.last_seen
    hour = timedelta(hours=1)
    counts = [
        session.execute(
            select(func.count(Mention.id)).where(
                Mention.incident_id == incident.id,
                Mention.created_at > start - hour,
                Mention.created_at <= start,
            )
        ).scalar_one()
        for start in (last, last - hour)
    ]
    return {
        "id": incident.id,
        "brand": incident.brand,
        "size": incident.size,
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "top_mention_id": incident.top_mention_id,
        # Posts in the hour up to its last post, and in the hour before that.
        "growth": {"last_hour": counts[0], "hour_before": counts[1]},
        "departments": sorted(
            set(
                session.execute(
                    select(QueueItem.department).where(QueueItem.incident_id == incident.id)
                ).scalars()
            )
        ),
    }


def handle_stem(handle: str) -> str:
    """The part of a handle people reuse across platforms: '@Kenji_T', 'kenji_t.bsky.social',
    'kenji_t@mastodon.social' and 'u/kenji_t' all give 'kenji_t'."""
    stem = handle.strip().lower().removeprefix("u/").lstrip("@")
    stem = stem.split("@", 1)[0]
    for suffix in (".bsky.social", ".bsky.team"):
        stem = stem.removesuffix(suffix)
    return stem


def author_history(
    session: Session, author: Author, current: Mention, limit: int
) -> dict[str, Any]:
    """Earlier posts by this author, and by accounts with the same handle on other platforms
    (likely the same person, which harken cannot prove: they are marked as such)."""
    stem = handle_stem(author.handle)
    candidates = select(Author).where(
        Author.platform != author.platform,
        func.lower(Author.handle).contains(stem, autoescape=True),
    )
    others = [
        a
        for a in (session.execute(candidates).scalars() if stem else [])
        if handle_stem(a.handle) == stem
    ]
    ids = {author.id: "same account"} | {a.id: f"same handle on {a.platform}" for a in others}
    rows = session.execute(
        select(Mention, Classification)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
        .where(Mention.author_id.in_(list(ids)), Mention.id != current.id)  # type: ignore[attr-defined]
        .order_by(Mention.created_at.desc(), Mention.id.desc())  # type: ignore[attr-defined]
        .limit(limit)
    ).all()
    outcomes = _outcomes(session, [m.id for m, _ in rows])
    earlier = [
        {
            "mention_id": m.id,
            "platform": m.platform,
            "created_at": m.created_at.isoformat(),
            "text": m.text,
            "sentiment": c.sentiment if c else None,
            "link": ids[m.author_id],
            "items": outcomes.get(m.id, []),
        }
        for m, c in rows
    ]
    total = session.execute(
        select(func.count(Mention.id)).where(Mention.author_id.in_(list(ids)))  # type: ignore[attr-defined]
    ).scalar_one()
    return {
        "accounts": [{"platform": author.platform, "handle": author.handle, "link": "this post"}]
        + [{"platform": a.platform, "handle": a.handle, "link": "same handle"} for a in others],
        "mentions": int(total),
        "earlier": earlier,
    }


def _outcomes(session: Session, mention_ids: list[int | None]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not mention_ids:
        return out
    items = session.execute(
        select(QueueItem).where(QueueItem.mention_id.in_(mention_ids))  # type: ignore[attr-defined]
    ).scalars()
    for item in items:
        text = f"{item.department} {item.status}"
        if item.closed_by:
            text += f" by {item.closed_by}"
        if item.note:
            text += f": {item.note}"
        out.setdefault(item.mention_id, []).append(text)
    return out


# -- what changed (the web's live updates) ----------------------------------------------------


def last_event_id(store: Store) -> int:
    with store.session() as session:
        return int(session.execute(select(func.max(QueueEvent.id))).scalar_one() or 0)


def events_after(store: Store, after_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """Queue events with an id above ``after_id`` (new items are their ``created`` events),
    oldest first, with each item's department and status now."""
    with store.session() as session:
        rows = session.execute(
            select(QueueEvent, QueueItem.department, QueueItem.status)
            .join(QueueItem, QueueItem.id == QueueEvent.queue_item_id)
            .where(QueueEvent.id > after_id)
            .order_by(QueueEvent.id)
            .limit(limit)
        ).all()
    return [
        {
            "id": e.id,
            "item_id": e.queue_item_id,
            "action": e.action,
            "actor": e.actor,
            "via": e.via,
            "to": e.to_status,
            "department": department,
            "status": status,
            "at": e.at.isoformat(),
        }
        for e, department, status in rows
    ]
