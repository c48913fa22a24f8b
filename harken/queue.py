"""Department queues as the CLI and other tools see them (the ``queue list`` JSON contract)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harken.store import Store
from harken.store.repo import QueueRow, queue_rows


def list_items(
    store: Store, department: str | None, statuses: Sequence[str] | None, limit: int | None
) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = queue_rows(session, department, statuses, limit)
    return [item_json(row) for row in rows]


def item_json(row: QueueRow) -> dict[str, Any]:
    item, mention, author, c = row.item, row.mention, row.author, row.classification
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
        "mention": {
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
        },
    }
