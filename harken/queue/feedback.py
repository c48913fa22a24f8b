"""Corrections become data: a transfer or a dismissal is a person's word on where harken
routed a mention, kept as a ``routing_labels`` row in the same transaction as the action.

    action                          verdict              to_department
    transfer X → Y                  "moved"              Y
    dismiss --reason R              R (DISMISS_REASONS)  None
    dismiss (no reason)             "not actionable"     None

Each row also says what harken decided: the department it routed the item to and the rule
that sent it there (``queue_items.rule``; None for the default route). Once someone has moved
an item, that is still the department of its first label, not where the person found it
(``from_department``). ``harken report routing`` reads these rows; so can training.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from harken.queue.actors import Actor
from harken.store.tables import QueueItem, RoutingLabel, utcnow

MOVED = "moved"


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
