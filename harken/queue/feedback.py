"""Corrections become data: a transfer or a dismissal is a person's word on where harken
routed a mention, kept as a ``routing_labels`` row in the same transaction as the action.

    action                          verdict              to_department
    transfer X → Y                  "moved"              Y
    dismiss --reason R              R (DISMISS_REASONS)  None
    dismiss (no reason)             "not actionable"     None

Each row also says what harken decided: the department it routed the item to and the rule
that sent it there (``queue_items.rule``; None for the default route). Once someone has moved
an item, that is still the department of its first label, not where the person found it
(``from_department``). ``harken report routing`` reads these rows; so does ``harken retrain``,
through ``complaint_feedback``: what handling an item says about the post itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlmodel import Session, col

from harken.queue.actors import Actor
from harken.store.tables import Mention, QueueItem, RoutingLabel, utcnow

MOVED = "moved"

# What handling an item says to the classifier's complaint head ("does it need a response?"):
# dismissed as needing nothing → no; taken on (what `harken report routing` counts as
# confirmed) → yes. A transfer, "not ours", "already handled" and "own or partner account"
# are about who should have it or who wrote it, not about whether it needed anyone.
NO_RESPONSE_NEEDED = ("not actionable", "spam or bot")
TAKEN_ON = ("claimed", "responded", "resolved")


def routed_to(session: Session, item: QueueItem) -> str:
    """The department harken routed ``item`` to: its first label's, else where it is now."""
    first = session.execute(
        select(col(RoutingLabel.department))
        .where(col(RoutingLabel.queue_item_id) == item.id)
        .order_by(col(RoutingLabel.id))
        .limit(1)
    ).scalar_one_or_none()
    return first or item.department


def label(
    session: Session, item: QueueItem, actor: Actor, verdict: str, to: str | None = None
) -> RoutingLabel:
    """Record the person's ``verdict`` on ``item`` as it stands (before a transfer moves it)."""
    assert item.id is not None
    row = RoutingLabel(
        mention_id=item.mention_id,
        queue_item_id=item.id,
        department=routed_to(session, item),
        rule=item.rule,
        verdict=verdict,
        from_department=item.department,
        to_department=to,
        actor=actor.name,
        via=actor.via,
        at=utcnow(),
    )
    session.add(row)
    return row


def labels_of(session: Session, mention_id: int) -> list[RoutingLabel]:
    """Every routing label of one mention, oldest first."""
    statement = (
        select(RoutingLabel)
        .where(col(RoutingLabel.mention_id) == mention_id)
        .order_by(col(RoutingLabel.id))
    )
    return list(session.execute(statement).scalars())


@dataclass(frozen=True)
class ComplaintWord:
    """What one queue item, as it stands now, says about whether its post needed a response."""

    mention_id: int
    text: str  # the post's
    queue_item_id: int
    department: str  # where the item is
    complaint: bool
    said: str  # "dismissed as not actionable", "claimed", "responded", "resolved"
    actor: str | None
    at: datetime


def complaint_feedback(session: Session, mention_id: int | None = None) -> dict[int, ComplaintWord]:
    """Per mention (or for ``mention_id`` alone), the latest word among its queue items. Items
    are read as they stand: a dismissal undone by a reopen no longer counts."""
    where = [] if mention_id is None else [col(QueueItem.mention_id) == mention_id]
    words = sorted(
        [*_taken_on(session, where), *_dismissed(session, where)],
        key=lambda w: (w.at, w.queue_item_id),
    )
    return {word.mention_id: word for word in words}  # later words replace earlier ones


def _taken_on(session: Session, where: list[ColumnElement[bool]]) -> list[ComplaintWord]:
    rows = session.execute(
        select(QueueItem, col(Mention.text))
        .join(Mention, col(Mention.id) == col(QueueItem.mention_id))
        .where(col(QueueItem.status).in_(TAKEN_ON), *where)
    ).all()
    return [
        ComplaintWord(
            item.mention_id,
            text,
            item.id,
            item.department,
            True,
            item.status,
            item.closed_by or item.assignee,
            item.closed_at or item.responded_at or item.claimed_at or item.updated_at,
        )
        for item, text in rows
    ]


def _dismissed(session: Session, where: list[ColumnElement[bool]]) -> list[ComplaintWord]:
    """Dismissed items by their last dismissal's reason, where that reason says "no"."""
    rows = session.execute(
        select(RoutingLabel, col(QueueItem.department), col(Mention.text))
        .join(QueueItem, col(QueueItem.id) == col(RoutingLabel.queue_item_id))
        .join(Mention, col(Mention.id) == col(RoutingLabel.mention_id))
        .where(col(QueueItem.status) == "dismissed", col(RoutingLabel.verdict) != MOVED, *where)
        .order_by(col(RoutingLabel.id))
    ).all()
    last = {row.queue_item_id: (row, department, text) for row, department, text in rows}
    return [
        ComplaintWord(
            row.mention_id,
            text,
            row.queue_item_id,
            department,
            False,
            f"dismissed as {row.verdict}",
            row.actor,
            row.at,
        )
        for row, department, text in last.values()
        if row.verdict in NO_RESPONSE_NEEDED
    ]
