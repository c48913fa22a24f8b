"""A queue item and its post as JSON, the one shape every face and sink shows them in: the
``queue list --format json`` contract, the web API, and the events webhooks receive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from harken.store.repo import WAITING, QueueRow
from harken.store.tables import Author, Classification, Incident, Mention, QueueItem, utcnow


def item_json(
    row: QueueRow,
    incident: Incident | None = None,
    now: datetime | None = None,
    tags: Sequence[str] | None = None,
) -> dict[str, Any]:
    item, c = row.item, row.classification
    now = now or utcnow()
    return {
        "id": item.id,
        "department": item.department,
        "status": item.status,
        "priority": item.priority,
        "rule": item.rule,
        "reason": item.reason,
        "due_at": item.due_at.isoformat(),
        "created_at": item.created_at.isoformat(),
        "incident_id": item.incident_id,
        "sentiment": c.sentiment if c else None,
        "complaint": c.complaint if c else None,
        "risk": c.risk if c else None,
        "risk_factors": list(c.risk_factors) if c else [],
        "topics": list(c.topics) if c else [],
        "mention": mention_json(row.mention, row.author, c),
        # Added with the queue lifecycle (issue 5); the keys above are the contract.
        "mentions": item.mentions,
        "incident_size": incident.size if incident else None,
        "assignee": item.assignee,
        "claimed_at": iso(item.claimed_at),
        "responded_at": iso(item.responded_at),
        "first_response_seconds": first_response_seconds(item),
        "closed_at": iso(item.closed_at),
        "closed_by": item.closed_by,
        "note": item.note,
        "overdue": item.status in WAITING and item.due_at < now,
        "escalation_level": item.escalation_level,
        "escalated_at": iso(item.escalated_at),
        # Added with queue actions (issue 19): `harken queue tag`.
        "tags": list(tags or []),
    }


def mention_json(
    mention: Mention, author: Author, c: Classification | None = None
) -> dict[str, Any]:
    return {
        "id": mention.id,
        "platform": mention.platform,
        "external_id": mention.external_id,
        "url": mention.url,
        "text": mention.text,
        "language": c.language if c else mention.language,
        "created_at": mention.created_at.isoformat(),
        "brand": mention.brand,
        "author": {
            "handle": author.handle,
            "name": author.name,
            "followers": author.followers,
            "verified": author.verified,
            "url": author.url,
        },
        # Added with impostor detection (issue 21): ["impersonation"], or [].
        "flags": list(mention.flags or []),
    }


def first_response_seconds(item: QueueItem) -> float | None:
    if item.responded_at is None:
        return None
    return round((item.responded_at - item.created_at).total_seconds(), 1)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
