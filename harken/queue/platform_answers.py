"""Answers seen on the platform: a staff account (accounts:) or the brand's own answered a
customer outside harken, and the queue hears of it (``staff_replied``, called by the route
stage). What happened is recorded, not asked for: no permission, no request of a face."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlmodel import Session

from harken.brands import bare
from harken.queue.actors import MAX_ACTOR, Actor
from harken.queue.items import event, mark_responded
from harken.store.repo import OPEN_STATUSES, open_items
from harken.store.tables import Author, Mention, QueueEvent, QueueItem, utcnow


def staff_replied(
    session: Session, reply: Mention, handle: str, default_department: str | None = None
) -> list[int]:
    """A staff account (accounts:) or the brand's own answered a post on the platform,
    outside harken: the post's open items (else those of the incident it joined) hear of it.
    One of them is responded, by the handle via the platform, the reply's own time stopping
    its SLA clock: the default department's (``routing.default``, the customers' queue), else
    the least urgent (the customer's errand; urgent items are escalations, for legal, PR or
    security to judge); the others get a note that it was answered, and keep their status.
    In a thread where every reply points at its first comment (Instagram, YouTube, Facebook),
    a reply that begins with @someone answers that person's latest post in the thread. An
    answer across brands marks nothing. Each (reply, item) is recorded once, by its request
    key, however often the reply is routed. Runs in the route stage's transaction (no
    permission asked: it is what happened, not a request); the caller commits. Returns the
    ids of the items it marked responded."""
    if reply.ref_kind != "reply" or not reply.ref_external_id:
        return []
    answered = session.execute(
        select(Mention).where(
            Mention.platform == reply.platform, Mention.external_id == reply.ref_external_id
        )
    ).scalar_one_or_none()
    if answered is None or (reply.brand and answered.brand and reply.brand != answered.brand):
        return []
    answered = _addressed(session, reply, answered)
    who = Actor(handle[:MAX_ACTOR], via=reply.platform)
    items = _items_answered(session, answered)
    chosen = _answering(items, default_department)
    marked = []
    for item in items:
        key = f"staff-reply:{reply.platform}:{reply.external_id}:item-{item.id}"[:128]
        if session.execute(select(QueueEvent.id).where(QueueEvent.request_key == key)).first():
            continue
        where = f"on {reply.platform} ({reply.url or reply.external_id})"
        assert item.id is not None
        if item is not chosen:
            note = f"answered {where} by {who.name}; this item keeps its status"
            session.add(event(item, who, "noted", utcnow(), note[:500], request_key=key))
            continue
        if item.responded_at is None:  # the reply's time, not when harken saw it
            item.responded_at = max(reply.created_at, item.created_at)
        mark_responded(session, item, who, f"replied {where}"[:500], key)
        marked.append(item.id)
    return marked


PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
LEADING_HANDLES = re.compile(r"^\s*((?:@[\w.\-]+[\s,:]*)+)")


def _answering(items: list[QueueItem], default_department: str | None) -> QueueItem | None:
    """The item a public answer responds to: the default department's, else the least
    urgent (then the first opened)."""
    if not items:
        return None
    default = [i for i in items if i.department == default_department]
    return (default or sorted(items, key=lambda i: (PRIORITY_ORDER.get(i.priority, 1), i.id)))[0]


def _addressed(session: Session, reply: Mention, answered: Mention) -> Mention:
    """The post a reply answers. Where threads are flat (every reply points at the thread's
    first comment), a reply that begins with @handles answers the latest earlier post in the
    thread by one of them (the thread's first comment when it is theirs, or when none is)."""
    lead = LEADING_HANDLES.match(reply.text or "")
    named = {bare(h) for h in re.findall(r"@([\w.\-]+)", lead.group(1))} if lead else set()
    if not named or not reply.conversation_id:
        return answered
    author = session.get(Author, answered.author_id)
    if author is not None and bare(author.handle) in named:
        return answered
    rows = session.execute(
        select(Mention, Author.handle)
        .join(Author, Author.id == Mention.author_id)
        .where(
            Mention.platform == reply.platform,
            Mention.conversation_id == reply.conversation_id,
            Mention.created_at <= reply.created_at,
            Mention.id != reply.id,
        )
        .order_by(Mention.created_at.desc())  # type: ignore[attr-defined]
        .limit(200)
    ).all()
    return next((m for m, handle in rows if bare(handle) in named), answered)


def _items_answered(session: Session, answered: Mention) -> list[QueueItem]:
    """The open items the answered post opened; else those of the incident it joined."""
    own = session.execute(
        select(QueueItem)
        .where(
            QueueItem.mention_id == answered.id,
            QueueItem.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
        )
        .order_by(QueueItem.id)
    ).scalars()
    return list(own) or open_items(session, answered.incident_id)
