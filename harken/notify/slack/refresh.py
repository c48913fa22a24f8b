"""What an item's Slack alerts should say now: after someone acted on the item, the Slack app
updates each message it was alerted in (chat.update) with these, and the root of its
incident's thread in every channel, which lists every department's item of the incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from harken.config import Config
from harken.notify.slack.format import Block, acted_alert, incident_section
from harken.notify.slack.incident import (
    incident_items,
    incident_roots,
    latest_incident_event,
)
from harken.notify.slack.message import SlackMessage
from harken.notify.slack.rendered import KEY, SECTION_KEY, STATEFUL_KINDS, latest_event_id
from harken.store.repo import AlertView, alert_view_query
from harken.store.tables import Alert, QueueItem


@dataclass(frozen=True)
class PostedAlert:
    """One Slack message of an item's alert, and what it should say now."""

    alert_id: int
    channel: str  # Slack's channel id
    ts: str
    message: SlackMessage
    # The latest queue event it shows (rendered.py): the item's, or for a thread root any
    # item's of the incident; and a root's incident section, kept with it.
    event_id: int | None = None
    section: Block | None = None


@dataclass(frozen=True)
class _Incident:
    """What the incident's roots show, read once for all of them."""

    roots: frozenset[int] = frozenset()  # alert ids
    event_id: int | None = None
    section: Block | None = None  # None while the incident has one item: its alert says it


def item_alerts_now(
    session: Session, config: Config, item_id: int, *, now: datetime | None = None
) -> list[PostedAlert]:
    """Every delivered Slack alert of the item that shows its state, and every thread root of
    its incident (one per channel, whichever item it alerted), rendered as they stand."""
    event_id = latest_event_id(session, item_id)  # read first: the render is at least as new
    incident_id = session.execute(
        select(col(QueueItem.incident_id)).where(col(QueueItem.id) == item_id)
    ).scalar_one_or_none()
    incident = _incident(session, config, incident_id)
    own = select(col(Alert.id)).where(
        col(Alert.queue_item_id) == item_id,
        col(Alert.sink) == "slack",
        col(Alert.kind).in_(STATEFUL_KINDS),
        col(Alert.remote_channel).is_not(None),
        col(Alert.message_ts).is_not(None),
    )
    ids = set(session.execute(own).scalars()) | incident.roots
    statement = alert_view_query().where(col(Alert.id).in_(ids))
    found = []
    for row in session.execute(statement.order_by(Alert.id)).all():
        view = AlertView(*row)
        if view.alert.id in incident.roots:
            found.append(_posted(view, config, now, incident.event_id, incident.section))
        else:
            found.append(_posted(view, config, now, event_id, None))
    return found


def incident_shown(
    session: Session, config: Config, incident_id: int
) -> tuple[int | None, Block | None]:
    """What a thread root of the incident shows now, posted or updated: the incident's latest
    queue event and its section (None while the incident has one item)."""
    incident = _incident(session, config, incident_id, roots=False)
    return incident.event_id, incident.section


def roots_behind(
    session: Session,
    config: Config,
    incident_id: int,
    *,
    now: datetime | None = None,
    shown: tuple[int | None, Block] | None = None,
) -> list[PostedAlert]:
    """The incident's delivered thread roots whose section is not the one they would show
    now (a department's item joined, or one moved on), rendered as they stand: none while
    the incident has one item. ``shown``: the incident's latest event and section, when the
    caller has just read them (``incident_shown``)."""
    if shown is not None:
        incident = _Incident(frozenset(), *shown)
    else:
        incident = _incident(session, config, incident_id, roots=False)
    if incident.section is None:
        return []
    roots = incident_roots(session, incident_id)
    if not roots:
        return []
    statement = alert_view_query().where(col(Alert.id).in_(roots))
    found = []
    for row in session.execute(statement.order_by(Alert.id)).all():
        view = AlertView(*row)
        if view.alert.payload.get(SECTION_KEY) == incident.section:
            continue  # already says it: updated once, not at every alert
        if int(view.alert.payload.get(KEY) or 0) > (incident.event_id or 0):
            continue  # it shows a later event than this read (an action meanwhile): keep it
        found.append(_posted(view, config, now, incident.event_id, incident.section))
    return found


def _posted(
    view: AlertView,
    config: Config,
    now: datetime | None,
    event_id: int | None,
    section: Block | None,
) -> PostedAlert:
    """The delivered alert of ``view`` rendered as it stands, showing ``event_id`` and
    ``section``."""
    alert = view.alert
    assert alert.id is not None and alert.remote_channel and alert.message_ts
    message = acted_alert(view, config, now=now, section=section)
    return PostedAlert(alert.id, alert.remote_channel, alert.message_ts, message, event_id, section)


def _incident(
    session: Session, config: Config, incident_id: int | None, *, roots: bool = True
) -> _Incident:
    """``roots=False``: without its roots (the outbox asks twice per alert, and most alerts'
    incidents have one item: no root of theirs is behind)."""
    if incident_id is None:
        return _Incident()
    event_id = latest_incident_event(session, incident_id)  # first, as above
    items = incident_items(session, incident_id)
    section = incident_section(incident_id, items, config) if len(items) > 1 else None
    found = frozenset(incident_roots(session, incident_id)) if roots else frozenset()
    return _Incident(found, event_id, section)
