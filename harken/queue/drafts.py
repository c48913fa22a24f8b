"""Drafts awaiting approval (``replies.approval``) and whether their approver message was
posted: a draft is committed before it is posted to the approver channel, so a process
stopped in between leaves a draft no approver sees. The Slack app's start posts those
(harken.slackapp.approvals).

That a draft was posted is a ``draft_posted`` queue event on its item, its ``request_key``
naming the draft (``draft-posted/<drafted event id>``): unique, so it is recorded once
whoever posts it. A draft followed by an approval or a reply on its item awaits nothing (it
was approved, or the item answered since): one from before these events were recorded is
not posted again for that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from harken.queue.actors import Actor
from harken.queue.items import earlier_event, event, load_item
from harken.queue.replies import Draft, draft_from
from harken.store import Store
from harken.store.repo import OPEN_STATUSES
from harken.store.tables import QueueEvent, QueueItem, utcnow

POSTED = "draft_posted"
# The events after which an item's earlier drafts await nothing (harken.queue.actions).
HANDLED = ("approved", "replied")
HARKEN = Actor("harken", via="slack")
# How far back a start looks: an older draft nobody saw is left (its author has moved on).
WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class Unposted:
    """A draft of an open item whose approver message was never recorded as posted."""

    draft: Draft
    at: datetime  # when it was drafted: its message cannot be older


def posted_key(draft_id: int) -> str:
    return f"draft-posted/{draft_id}"


def record_posted(store: Store, draft: Draft, where: str) -> bool:
    """Record that the draft's approver message is posted (``where``: its channel and ts);
    False when that was recorded before."""
    key = posted_key(draft.event_id)
    with store.session() as session:
        item = load_item(session, draft.item_id)
        if earlier_event(session, key) is not None:
            return False
        note = f"draft #{draft.event_id} posted: {where}"
        session.add(event(item, HARKEN, POSTED, utcnow(), note, request_key=key))
        try:
            session.flush()
        except IntegrityError:  # recorded by another process meanwhile
            session.rollback()
            return False
    return True


def unposted_drafts(store: Store, now: datetime | None = None) -> list[Unposted]:
    """The drafts (oldest first) of open items drafted within ``WINDOW`` whose approver
    message was never recorded as posted."""
    since = (now or utcnow()) - WINDOW
    with store.session() as session:
        drafted = list(
            session.execute(
                select(QueueEvent)
                .join(QueueItem, col(QueueItem.id) == col(QueueEvent.queue_item_id))
                .where(
                    col(QueueEvent.action) == "drafted",
                    col(QueueEvent.at) >= since,
                    col(QueueEvent.note).is_not(None),
                    col(QueueItem.status).in_(OPEN_STATUSES),
                )
                .order_by(col(QueueEvent.id))
            ).scalars()
        )
        keys = [posted_key(e.id) for e in drafted if e.id is not None]
        posted = set(
            session.execute(
                select(col(QueueEvent.request_key)).where(col(QueueEvent.request_key).in_(keys))
            ).scalars()
        )
        handled = _last_handled(session, {e.queue_item_id for e in drafted})
    return [
        Unposted(draft_from(e), e.at)
        for e in drafted
        if e.id is not None
        and posted_key(e.id) not in posted
        and e.id > handled.get(e.queue_item_id, 0)
    ]


def _last_handled(session: Session, item_ids: set[int]) -> dict[int, int]:
    """Per item, the id of its latest approval or reply event."""
    if not item_ids:
        return {}
    rows = session.execute(
        select(col(QueueEvent.queue_item_id), func.max(col(QueueEvent.id)))
        .where(col(QueueEvent.queue_item_id).in_(item_ids), col(QueueEvent.action).in_(HANDLED))
        .group_by(col(QueueEvent.queue_item_id))
    ).all()
    return {item_id: last for item_id, last in rows}
