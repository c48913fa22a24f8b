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
``harken.queue.actions``; reading them is ``harken.queue.views``. An event may carry the
``request_key`` of the request that made it (a Slack click delivered twice): unique, so that
a request is acted on once (``done_before``, ``written_once``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from harken.errors import ItemNotFound, QueueError
from harken.queue.actors import Actor
from harken.store import Store
from harken.store.repo import WAITING, QueueRow
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


@dataclass(frozen=True)
class Change:
    """What one action did: the item's status before and after, and a line saying so."""

    item_id: int
    before: str
    after: str
    message: str
    action: str = ""  # the queue_events action it recorded
    # Nothing changed: the same request (its ``request_key``) did this before, and this is
    # what it did then (a face answers it as it answered the first time).
    repeated: bool = False


def load_item(session: Session, item_id: int) -> QueueItem:
    """The item, its row locked until the transaction ends (PostgreSQL; SQLite writes one
    transaction at a time anyway): two people acting on one item at once take turns, and the
    second sees what the first did."""
    item = session.get(QueueItem, item_id, with_for_update=True)
    if item is None:
        raise ItemNotFound(
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
        raise ItemNotFound(
            f"no queue item #{item_id}", hint="`harken queue list` shows the open ones"
        )
    return QueueRow(*found)


def replies_of(session: Session, item_id: int) -> list[Reply]:
    return list(
        session.execute(
            select(Reply).where(Reply.queue_item_id == item_id).order_by(Reply.id)
        ).scalars()
    )


def move(
    session: Session,
    item: QueueItem,
    to: str,
    actor: Actor,
    action: str,
    note: str | None,
    message: str,
    request_key: str | None = None,
) -> Change:
    """Set the item's status to ``to`` (even if it is that already) and record the event."""
    before, now = item.status, utcnow()
    item.status, item.updated_at = to, now
    session.add(item)
    session.add(event(item, actor, action, now, note, before, to, request_key))
    assert item.id is not None
    return Change(item.id, before, to, message, action)


def record(
    session: Session,
    item: QueueItem,
    actor: Actor,
    action: str,
    note: str | None,
    message: str,
    request_key: str | None = None,
) -> Change:
    """Record an event that leaves the item's status as it is (a note, a tag)."""
    now = utcnow()
    item.updated_at = now
    session.add(item)
    session.add(event(item, actor, action, now, note, request_key=request_key))
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
    request_key: str | None = None,
) -> QueueEvent:
    """One ``queue_events`` row: who (and through which face, as whom there) did what, and the
    request that did it (``request_key``: unique)."""
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
        request_key=request_key,
    )


def mark_responded(
    session: Session, item: QueueItem, actor: Actor, note: str, request_key: str | None = None
) -> None:
    """A reply was posted: the first one stops the SLA clock."""
    if item.responded_at is None:
        item.responded_at = utcnow()
    item.escalation_level = 0  # answered: no longer overdue (escalated_at keeps the record)
    if item.assignee is None:
        item.assignee = actor.name
    if item.status in WAITING:
        move(session, item, "responded", actor, "replied", note, "", request_key)
    else:
        session.add(event(item, actor, "replied", utcnow(), note, request_key=request_key))
        session.add(item)


# -- once per request (a face's request_key: harken.queue.actions) ---------------------------


def done_before(store: Store, request_key: str | None) -> Change | None:
    """What the request ``request_key`` did, if an action recorded it: a face's cheap first
    look (the actions look again under the item's lock, and the key is unique)."""
    if request_key is None:
        return None
    with store.session() as session:
        return earlier_change(session, request_key)


def earlier_event(session: Session, request_key: str | None) -> QueueEvent | None:
    if request_key is None:
        return None
    statement = select(QueueEvent).where(col(QueueEvent.request_key) == request_key)
    return session.execute(statement).scalars().first()


def earlier_change(session: Session, request_key: str | None) -> Change | None:
    found = earlier_event(session, request_key)
    if found is None:
        return None
    item = session.get(QueueItem, found.queue_item_id)
    now = item.status if item is not None else ""
    return Change(
        found.queue_item_id,
        found.from_status or now,
        found.to_status or now,
        f"#{found.queue_item_id} {found.action} by {found.actor}: already done "
        "(the same request came again)",
        found.action,
        repeated=True,
    )


def written_once(
    session: Session,
    change: Change,
    request_key: str | None,
    conflict: QueueError | None = None,
) -> Change:
    """``change``, flushed with its event's ``request_key``. Another delivery of the request
    that wrote the key since we looked (a replica, on SQLite) makes the flush fail: this
    transaction is rolled back and what the other did is returned, marked ``repeated``. Any
    other conflict raises ``conflict`` when given."""
    if request_key is None and conflict is None:
        return change
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        earlier = earlier_change(session, request_key)
        if earlier is not None:
            return earlier
        if conflict is not None:
            raise conflict from None
        raise
    return change
