"""Deliver pages through PagerDuty's Events API v2 (POST {api_base_url}/v2/enqueue).

A critical item or an escalation of one triggers an alert whose dedup key is its incident's
in its department (``harken:incident-92:security``): later triggers of the same incident add
to the same PagerDuty alert, and a trigger sent twice after an interruption is one alert.
Claiming the item acknowledges the alert (the first claim: someone is on it); resolving or
dismissing it resolves the alert, unless another open item of the incident is on the same page
(an item opened after the first was transferred away). A spike triggers one of
its own. A trigger whose item was closed meanwhile (retried after its resolve) is skipped; an
item reopened is not paged again. The summary is plain text (PagerDuty shows it as such);
the event's whole JSON, as webhooks get it, rides in ``custom_details``.
"""

from __future__ import annotations

import json
from typing import Any

from harken.config import Config
from harken.notify.contract import Delivered, Skip, Thread
from harken.notify.events import IMPERSONATION_RULE, event_json
from harken.notify.http import JsonPoster
from harken.notify.pagerduty.plugin import routing_key
from harken.store import Store
from harken.store.repo import OPEN_STATUSES, AlertView, paged_elsewhere
from harken.store.tables import Alert
from harken.text import one_line, safe_link

SUMMARY_MAX = 1024  # PagerDuty's limit
SEVERITY = {"urgent": "critical", "high": "error", "normal": "warning", "low": "info"}


class PagerDutySink:
    name = "pagerduty"
    verifiable = False  # but a trigger or resolve sent twice is one: same dedup key
    budgeted = False  # on-call is paged when it happens; PagerDuty has its own schedules

    def __init__(self, config: Config) -> None:
        pagerduty = config.alerts.pagerduty
        assert pagerduty is not None
        self.config = config
        self.url = pagerduty.api_base_url.rstrip("/") + "/v2/enqueue"
        self.poster = JsonPoster("PagerDuty", pagerduty.timeout.total_seconds())
        self.store: Store | None = None  # the outbox's: is another item on the page?

    def lane(self, alert: Alert) -> str:
        return alert.channel  # a department: its service's alerts in order

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        return None

    def use_store(self, store: Store) -> None:
        self.store = store

    def deliver(self, view: AlertView, thread: Thread | None = None) -> Delivered:
        alert, item = view.alert, view.item
        key = routing_key(self.config, alert.channel)
        if key is None:
            raise Skip(f"no PagerDuty routing key for {alert.channel} any more")
        trigger = alert.kind in ("item", "escalation", "claimed")
        if trigger and item is not None and item.status not in OPEN_STATUSES:
            raise Skip(f"item #{item.id} is {item.status}: not paged")  # retried after closing
        if item is not None and alert.kind == "closed" and self.store is not None:
            with self.store.session() as session:
                other = paged_elsewhere(session, self.name, item, alert.channel)
            if other is not None:
                raise Skip(
                    f"item #{other.id} of incident #{item.incident_id} is still open: "
                    "its page stays"
                )
        event = pagerduty_event(view, key)
        body = json.dumps(event, ensure_ascii=True).encode()
        self.poster.post(self.url, body)
        return Delivered(note=f"{event['event_action']} {event['dedup_key']}")


def dedup_key(view: AlertView) -> str:
    alert = view.alert
    if alert.kind == "spike":
        return f"harken:spike-{alert.spike_id}"
    if alert.incident_id is not None:
        return f"harken:incident-{alert.incident_id}:{alert.channel}"
    return f"harken:item-{alert.queue_item_id}:{alert.channel}"


def pagerduty_event(view: AlertView, key: str) -> dict[str, Any]:
    alert = view.alert
    if alert.kind in ("closed", "claimed"):  # someone is on it: acknowledged; then resolved
        action = "resolve" if alert.kind == "closed" else "acknowledge"
        return {"routing_key": key, "event_action": action, "dedup_key": dedup_key(view)}
    if alert.kind not in ("item", "escalation", "spike"):
        raise Skip(f"PagerDuty is not paged for {alert.kind} alerts")
    payload: dict[str, Any] = {
        "summary": one_line(_summary(view), SUMMARY_MAX),
        "source": "harken",
        "severity": _severity(view),
        "component": alert.channel,
        "class": _class(view),
        "custom_details": event_json(view),
    }
    when = (
        view.mention.created_at if view.mention else view.spike.hour_start if view.spike else None
    )
    if when is not None:
        payload["timestamp"] = when.isoformat()
    if view.mention is not None and view.mention.brand:
        payload["group"] = view.mention.brand
    event: dict[str, Any] = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key(view),
        "payload": payload,
        "client": "harken",
    }
    link = safe_link(view.mention.url) if view.mention else None
    if link:
        event["links"] = [{"href": link, "text": "The post"}]
    return event


def _summary(view: AlertView) -> str:
    alert, item, mention, author = view.alert, view.item, view.mention, view.author
    if alert.kind == "spike" and view.spike is not None:
        spike = view.spike
        return (
            f"harken: volume spike for {spike.brand or 'all brands'} ({spike.series}): "
            f"{spike.count} posts in an hour, {spike.ratio:.1f}x the usual"
        )
    if item is None or mention is None:
        return f"harken alert #{alert.id}"
    what = "possible impostor" if item.rule == IMPERSONATION_RULE else f"{item.priority} item"
    if alert.kind == "escalation":
        what = f"overdue {what}"
    who = author.handle if author else "unknown author"
    where = f"#{item.id} for {item.department}: {who} on {mention.platform}"
    return f"harken: {what} {where}: {mention.text}"


def _severity(view: AlertView) -> str:
    if view.item is None:
        return "warning"  # a spike: someone should look, nothing is broken yet
    if view.item.rule == IMPERSONATION_RULE:
        return "critical"
    return SEVERITY.get(view.item.priority, "error")


def _class(view: AlertView) -> str:
    if view.item is None:
        return "spike"
    if view.item.rule == IMPERSONATION_RULE:
        return "impostor"
    return "overdue item" if view.alert.kind == "escalation" else "item"
