"""What an item's Slack alerts should say now: after someone acted on the item, the Slack app
updates each message it was alerted in (chat.update) with these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from harken.config import Config
from harken.notify.slack.format import acted_alert
from harken.notify.slack.message import SlackMessage
from harken.notify.slack.rendered import latest_event_id
from harken.store.repo import AlertView, alert_view_query
from harken.store.tables import Alert

# The alerts that show an item and its state (updates are quiet thread replies about posts).
STATEFUL_KINDS = ("item", "escalation")


@dataclass(frozen=True)
class PostedAlert:
    """One Slack message of an item's alert, and what it should say now."""

    alert_id: int
    channel: str  # Slack's channel id
    ts: str
    message: SlackMessage
    event_id: int | None = None  # the item's latest queue event it shows (rendered.py)


def item_alerts_now(
    session: Session, config: Config, item_id: int, *, now: datetime | None = None
) -> list[PostedAlert]:
    """Every delivered Slack alert of the item that shows its state, rendered as it stands."""
    statement = alert_view_query().where(
        Alert.queue_item_id == item_id,
        Alert.sink == "slack",
        Alert.kind.in_(STATEFUL_KINDS),  # type: ignore[attr-defined]
        Alert.remote_channel.is_not(None),  # type: ignore[union-attr]
        Alert.message_ts.is_not(None),  # type: ignore[union-attr]
    )
    found = []
    event_id = latest_event_id(session, item_id)  # read first: the render is at least as new
    for row in session.execute(statement.order_by(Alert.id)).all():
        view = AlertView(*row)
        alert = view.alert
        assert alert.id is not None and alert.remote_channel and alert.message_ts
        message = acted_alert(view, config, now=now)
        found.append(
            PostedAlert(alert.id, alert.remote_channel, alert.message_ts, message, event_id)
        )
    return found
