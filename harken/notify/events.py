"""An outbox alert as an event: its type ("item.created", "spike"...) and its JSON, as
webhooks receive it (docs/alerts.md, "Webhooks"). The JSON of an item and its post is the
``queue list --format json`` shape (harken.store.views), read when the event is delivered."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from harken.store.repo import AlertView, QueueRow
from harken.store.views import item_json, mention_json

# The rule name of the items impostor detection opens (harken.routing.impersonation.RULE;
# notify sits below routing, so the name is repeated here).
IMPERSONATION_RULE = "impersonation"


def event_type(view: AlertView) -> str:
    alert = view.alert
    match alert.kind:
        case "item":
            if alert.payload.get("transferred_from"):
                return "item.transferred"
            if view.item is not None and view.item.rule == IMPERSONATION_RULE:
                return "impostor"
            return "item.created"
        case "escalation":
            return "item.escalated"
        case "update":
            return "incident.grown"
        case "closed":
            return f"item.{alert.payload.get('status', 'resolved')}"
        case "claimed":
            return "item.claimed"
        case other:  # "spike", "digest"
            return other


def event_id(view: AlertView) -> str:
    """The same for every attempt at one alert, different for every other: receivers dedupe
    on it. Derived from the alert's idempotency key (no dots: Standard Webhooks signs
    "{id}.{timestamp}.{body}")."""
    digest = hashlib.sha256(view.alert.idempotency_key.encode()).hexdigest()
    return f"msg_{digest[:32]}"


def event_json(view: AlertView, tags: Sequence[str] | None = None) -> dict[str, Any]:
    """``tags``: the item's (``queue tag``), as ``queue list`` shows them."""
    alert = view.alert
    return {
        "id": event_id(view),
        "type": event_type(view),
        "timestamp": alert.created_at.isoformat(),  # when it happened, not when it was sent
        "department": alert.channel or None,
        "data": _data(view, tags),
    }


def _data(view: AlertView, tags: Sequence[str] | None) -> dict[str, Any]:
    alert, item, mention, author = view.alert, view.item, view.mention, view.author
    if alert.kind == "spike" and view.spike is not None:
        spike = view.spike
        return {
            "spike": {
                "id": spike.id,
                "brand": spike.brand or None,
                "series": spike.series,
                "hour_start": spike.hour_start.isoformat(),
                "count": spike.count,
                "baseline": spike.baseline,
                "ratio": spike.ratio,
                "p_value": spike.p_value,
                "terms": list(spike.terms),
                "top_incidents": list(spike.top_incidents),
            }
        }
    if alert.kind == "digest":
        return {"date": alert.payload.get("date"), "summary": alert.payload.get("summary", "")}
    if item is None or mention is None or author is None:
        return {}
    incident = {"id": view.incident.id, "size": view.incident.size} if view.incident else None
    if alert.kind == "update":  # the post that joined, and the item it joined
        return {
            "incident": incident,
            "item": {
                "id": item.id,
                "department": item.department,
                "status": item.status,
                "priority": item.priority,
            },
            "post": mention_json(mention, author, view.classification),
            "joined": alert.payload.get("joined", 1),  # posts folded into this event
        }
    data: dict[str, Any] = {
        "item": item_json(
            QueueRow(item, mention, author, view.classification), view.incident, tags=tags
        )
    }
    if alert.kind == "item" and alert.payload.get("transferred_from"):
        data["from"] = alert.payload["transferred_from"]
    if alert.kind == "escalation":
        data["level"] = alert.payload.get("level", item.escalation_level)
    return data
