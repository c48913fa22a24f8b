"""A request's query string as the one ``ItemFilter`` (``harken.queue.filters.item_filter``):
the inbox's filter form and ``GET /api/v1/items`` take the same parameters, named as
``harken queue list``'s options are.

    department, status, priority, platform, brand   repeatable, or comma-separated
    overdue                                         1 / true / on
    assignee                                        a name; "-" for nobody
    topic, language, tag                            one each
    risk_gte                                        0 to 1
    incident                                        an incident id
    limit (1-500, default 50), offset               the page
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from harken.config import Config
from harken.errors import QueueInputError
from harken.queue.filters import item_filter
from harken.store import Store
from harken.store.repo import ItemFilter

MAX_ID = 2**63 - 1  # what the databases hold

REPEATABLE = ("department", "status", "priority", "platform", "brand")
SINGLE = ("assignee", "topic", "language", "tag", "risk_gte", "incident", "overdue")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Page:
    where: ItemFilter
    limit: int
    offset: int


def page_of(config: Config, store: Store, params: QueryParams) -> Page:
    where = item_filter(
        config,
        store,
        departments=params.getlist("department"),
        statuses=params.getlist("status"),
        priorities=params.getlist("priority"),
        overdue=params.get("overdue", "").lower() in ("1", "true", "on", "yes"),
        assignee=params.get("assignee"),
        platforms=params.getlist("platform"),
        brands=params.getlist("brand"),
        topic=params.get("topic"),
        language=params.get("language"),
        risk_gte=_number(params.get("risk_gte"), "risk_gte", float),
        tag=params.get("tag"),
        incident_id=_number(params.get("incident"), "incident", int),
    )
    limit = _number(params.get("limit"), "limit", int)
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = _number(params.get("offset"), "offset", int) or 0
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise QueueInputError(f"limit must be 1 to {MAX_LIMIT} and offset 0 or more")
    return Page(where, limit, offset)


def _number(value: str | None, name: str, kind: type) -> Any:
    if value is None or not value.strip():
        return None
    try:
        number = kind(value.strip()[:40])
    except ValueError:
        raise QueueInputError(f"{name} must be a number, not {value[:20]!r}") from None
    if kind is float and not math.isfinite(number):
        raise QueueInputError(f"{name} must be a number, not {value[:20]!r}")
    if kind is int and not 0 <= number <= MAX_ID:
        raise QueueInputError(f"{name} must be from 0 to {MAX_ID}")
    return number


def query_without(params: QueryParams, *names: str) -> str:
    """The query string less ``names`` (the pager's links keep the filters)."""
    kept = [(k, v) for k, v in params.multi_items() if k not in names]
    return str(QueryParams(kept))
