"""An incident as its Slack thread roots show it: every department's item of the incident,
and the root message of its thread in each channel (the first alert delivered there, as the
outbox threads it: harken.notify.outbox ``_thread``).

One post can be routed to several departments (support and PR both get the outage), and
each department's channel has its own thread: the roots are how one department sees where
the others stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from harken.notify.slack.rendered import STATEFUL_KINDS
from harken.store.tables import Alert, QueueEvent, QueueItem, RoutingLabel

MOVED = "moved"  # a transfer's routing label (harken.queue.feedback.MOVED; queue/ sits above)


@dataclass(frozen=True)
class IncidentItem:
    """One department's item of an incident, and where harken first routed it when a person
    has moved it since (None when it is still there)."""

    item: QueueItem
    moved_from: str | None = None


def incident_items(session: Session, incident_id: int) -> list[IncidentItem]:
    """Every item of the incident, oldest first."""
    params = {"incident_id": incident_id}
    items = list(session.execute(_items_statement(), params).scalars())
    first_routed = _first_routed(session, incident_id)
    return [IncidentItem(item, _moved_from(item, first_routed)) for item in items]


def incident_roots(session: Session, incident_id: int) -> list[int]:
    """The ids of the incident's thread roots on Slack: per channel, the first alert that was
    delivered there with a message of its own."""
    return sorted(session.execute(_roots_statement(), {"incident_id": incident_id}).scalars())


def latest_incident_event(session: Session, incident_id: int) -> int | None:
    """The id of the latest queue event of any item of the incident: what a root rendered now
    shows (harken.notify.slack.rendered)."""
    params = {"incident_id": incident_id}
    return session.execute(_latest_event_statement(), params).scalar_one_or_none()


def _first_routed(session: Session, incident_id: int) -> dict[int, str]:
    """Each moved item's department as harken first routed it: its earliest "moved" label
    (one query for all the incident's items)."""
    labels = session.execute(_moved_labels_statement(), {"incident_id": incident_id}).all()
    first: dict[int, str] = {}
    for item_id, department in labels:
        first.setdefault(item_id, department)
    return first


# The statements are built once (the outbox reads an incident once or twice per alert, and
# building them cost about as much as running them); ``incident_id`` is bound at each run.


@cache
def _items_statement() -> Any:
    return (
        select(QueueItem)
        .where(col(QueueItem.incident_id) == bindparam("incident_id"))
        .order_by(col(QueueItem.id))
    )


@cache
def _roots_statement() -> Any:
    first = (
        select(func.min(Alert.id))
        .where(
            col(Alert.sink) == "slack",
            col(Alert.incident_id) == bindparam("incident_id"),
            col(Alert.status) == "sent",
            col(Alert.message_ts).is_not(None),
            col(Alert.remote_channel).is_not(None),
        )
        .group_by(col(Alert.channel))
    )
    return select(col(Alert.id)).where(
        col(Alert.id).in_(first),
        col(Alert.kind).in_(STATEFUL_KINDS),
        col(Alert.thread_ts) == col(Alert.message_ts),  # it started the thread
    )


@cache
def _latest_event_statement() -> Any:
    return (
        select(func.max(QueueEvent.id))
        .join(QueueItem, col(QueueItem.id) == col(QueueEvent.queue_item_id))
        .where(col(QueueItem.incident_id) == bindparam("incident_id"))
    )


@cache
def _moved_labels_statement() -> Any:
    items = select(col(QueueItem.id)).where(col(QueueItem.incident_id) == bindparam("incident_id"))
    return (
        select(col(RoutingLabel.queue_item_id), col(RoutingLabel.department))
        .where(col(RoutingLabel.queue_item_id).in_(items), col(RoutingLabel.verdict) == MOVED)
        .order_by(col(RoutingLabel.id))
    )


def _moved_from(item: QueueItem, first_routed: dict[int, str]) -> str | None:
    routed = first_routed.get(item.id) if item.id is not None else None
    return routed if routed and routed != item.department else None
