"""Which state of its item a Slack alert message shows: the id of the item's latest queue event
when the message was last rendered, kept in the alert's payload (``rendered_event``).

An action is committed before its message is updated (chat.update): a process stopped in
between, or an action from another face (the CLI), leaves the message behind. ``stale_items``
finds those at the Slack app's start; the app updates them (harken.slackapp.catchup).

A thread's root also lists every department's item of its incident (notify/slack/incident.py):
it shows the incident's latest queue event, whichever item it was about, and keeps the section
it showed (``SECTION_KEY``) so that a thread update's chat.update of the root keeps it too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from harken.store.tables import Alert, QueueEvent, QueueItem, utcnow

KEY = "rendered_event"
SECTION_KEY = "incident_section"
# The alerts that show an item and its state, and may start a thread (updates are quiet
# thread replies about posts).
STATEFUL_KINDS = ("item", "escalation")
# How far back a start looks: an action older than this whose message was never updated is
# left as it is (the scan stays cheap on a long history).
CATCH_UP_WINDOW = timedelta(days=14)


def latest_event_id(session: Session, item_id: int) -> int | None:
    """The id of the item's latest queue event: what a message rendered now shows."""
    statement = select(func.max(QueueEvent.id)).where(col(QueueEvent.queue_item_id) == item_id)
    return session.execute(statement).scalar_one_or_none()


def mark_rendered(
    session: Session, alert_id: int, event_id: int | None, section: dict[str, Any] | None = None
) -> None:
    """Record that the alert's message shows the item (a root: its incident) as of
    ``event_id``, with the incident ``section`` if it shows one (never going back: two
    updates may finish out of order)."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None or event_id is None:
        return
    if int(alert.payload.get(KEY) or 0) >= event_id:
        return
    shown = {KEY: event_id} | ({SECTION_KEY: section} if section is not None else {})
    alert.payload = {**alert.payload, **shown}  # a new dict: JSON columns track reassignment
    session.add(alert)


def stale_items(session: Session, now: datetime | None = None) -> list[int]:
    """The items (ids, oldest first) with a delivered Slack alert message that does not show
    their latest queue event: acted on after the message was posted, and the message last
    rendered before that event (or never since it was posted). A thread root counts the
    events of every item of its incident, and stands for its own item here (updating that
    item's messages updates every root of the incident)."""
    since = (now or utcnow()) - CATCH_UP_WINDOW
    latest = (
        select(
            col(QueueEvent.queue_item_id).label("item_id"),
            func.max(QueueEvent.id).label("event_id"),
            func.max(QueueEvent.at).label("event_at"),
        )
        .where(col(QueueEvent.at) >= since)
        .group_by(col(QueueEvent.queue_item_id))
        .subquery()
    )
    statement = (
        select(col(Alert.queue_item_id), col(Alert.payload), latest.c.event_id)
        .join(latest, latest.c.item_id == Alert.queue_item_id)
        .where(
            col(Alert.sink) == "slack",
            Alert.kind.in_(STATEFUL_KINDS),  # type: ignore[attr-defined]
            Alert.remote_channel.is_not(None),  # type: ignore[union-attr]
            Alert.message_ts.is_not(None),  # type: ignore[union-attr]
            latest.c.event_at > Alert.sent_at,  # acted on after it was posted
        )
    )
    rows = [*session.execute(statement).all(), *session.execute(_stale_roots(since)).all()]
    found = {
        item_id
        for item_id, payload, event_id in rows
        if event_id > int((payload or {}).get(KEY) or 0)
    }
    return sorted(found)


def _stale_roots(since: datetime) -> Any:
    """The thread roots (their item, payload, and their incident's latest event) whose
    incident had a queue event after the root was posted: any item of it, in any department."""
    latest = (
        select(
            col(QueueItem.incident_id).label("incident_id"),
            func.max(QueueEvent.id).label("event_id"),
            func.max(QueueEvent.at).label("event_at"),
        )
        .join(QueueItem, col(QueueItem.id) == col(QueueEvent.queue_item_id))
        .where(col(QueueEvent.at) >= since, col(QueueItem.incident_id).is_not(None))
        .group_by(col(QueueItem.incident_id))
        .subquery()
    )
    return (
        select(col(Alert.queue_item_id), col(Alert.payload), latest.c.event_id)
        .join(latest, latest.c.incident_id == Alert.incident_id)
        .where(
            col(Alert.sink) == "slack",
            Alert.kind.in_(STATEFUL_KINDS),  # type: ignore[attr-defined]
            col(Alert.remote_channel).is_not(None),
            col(Alert.message_ts).is_not(None),
            col(Alert.thread_ts) == col(Alert.message_ts),  # it started its thread
            latest.c.event_at > Alert.sent_at,
        )
    )
