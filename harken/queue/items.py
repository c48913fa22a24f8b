"""A queue item's life: its statuses, loading one, and recording a change of it as one
``queue_events`` row (its history, which ``queue show`` prints).

    new ──claim / assign──> claimed ──reply --send──> responded
     │                         │                          │
     └─────────────────────────┴──── resolve ─────────────┴──> resolved
                               └──── dismiss ─────────────┴──> dismissed  (from any open status)
    resolved, dismissed ──reopen──> responded if it was answered, else claimed if someone
                                    holds it, else new
    claimed ──transfer──> new (in the other department; its holder lets go); new and
    responded items keep their status when transferred

An item's SLA is the time to its first response. The actions that change items are in
``harken.queue.actions``; reading them is ``harken.queue.views``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from harken.errors import QueueError
from harken.queue.actors import Actor
from harken.store.repo import QueueRow
from harken.store.tables import (
    Author,
    Classification,
    Mention,
    QueueEvent,
    QueueItem,
    Reply,
    utcnow,
)

STATUSES = ("new", "claimed", "responded", "resolved", "dismissed")
WAITING = ("new", "claimed")  # no first response yet: the SLA clock runs


@dataclass(frozen=True)
class Change:
    """What one action did: the item's status before and after, and a line saying so."""

    item_id: int
    before: str
    after: str
    message: str
    action: str = ""  # the queue_events action it recorded


def load_item(session: Session, item_id: int) -> QueueItem:
    """The item, its row locked until the transaction ends (PostgreSQL; SQLite writes one
    transaction at a time anyway): two people acting on one item at once take turns, and the
    second sees what the first did."""
    item = session.get(QueueItem, item_id, with_for_update=True)
    if item is None:
        raise QueueError(
            f"no queue item #{item_id}", hint="`harken queue list` shows the open ones"
        )
    return item


def load_row(session: Session, item_id: int) -> QueueRow:
    """The item with its post, the post's author and the post's scores."""
    found = session.execute(
        select(QueueItem, Mention, Author, Classification)
        .join(Mention, Mention.id == QueueItem.mention_id)
        .join(Author, Author.id == Mention.author_id)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
        .where(QueueItem.id == item_id)
    ).first()
    if found is None:
        raise QueueError(
            f"no queue item #{item_id}", hint="`harken queue list` shows the open ones"
        )
    return QueueRow(*found)


def replies_of(session: Session, item_id: int) -> list[Reply]:
    return list(
        session.execute(
            select(Reply).where(Reply.queue_item_id == item_id).order_by(Reply.id)
        ).scalars()
    )


def first_response_seconds(item: QueueItem) -> float | None:
    if item.responded_at is None:
        return None
    return round((item.responded_at - item.created_at).total_seconds(), 1)


def move(
    session: Session,
    item: QueueItem,
    to: str,
    actor: Actor,
    action: str,
    note: str | None,
    message: str,
) -> Change:
    """Set the item's status to ``to`` (even if it is that already) and record the event."""
    before, now = item.status, utcnow()
    item.status, item.updated_at = to, now
    session.add(item)
    session.add(event(item, actor, action, now, note, from_status=before, to_status=to))
    assert item.id is not None
    return Change(item.id, before, to, message, action)


def record(
    session: Session, item: QueueItem, actor: Actor, action: str, note: str | None, message: str
) -> Change:
    """Record an event that leaves the item's status as it is (a note, a tag)."""
    now = utcnow()
    item.updated_at = now
    session.add(item)
    session.add(event(item, actor, action, now, note))
    assert item.id is not None
    return Change(item.id, item.status, item.status, message, action)


def event(
    item: QueueItem,
    actor: Actor,
    action: str,
    at: datetime,
    note: str | None,
    from_status: str | None = None,
    to_status: str | None = None,
) -> QueueEvent:
    """One ``queue_events`` row: who (and through which face, as whom there) did what."""
    return QueueEvent(
        queue_item_id=item.id,  # type: ignore[arg-type]
        at=at,
        actor=actor.name,
        via=actor.via,
        actor_ref=actor.ref,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


def mark_responded(session: Session, item: QueueItem, actor: Actor, note: str) -> None:
    """A reply was posted: the first one stops the SLA clock."""
    if item.responded_at is None:
        item.responded_at = utcnow()
    item.escalation_level = 0  # answered: no longer overdue (escalated_at keeps the record)
    if item.assignee is None:
        item.assignee = actor.name
    if item.status in WAITING:
        move(session, item, "responded", actor, "replied", note, "")
    else:
        session.add(event(item, actor, "replied", utcnow(), note))
        session.add(item)
