"""The one way a face turns what a person asked for into an ``ItemFilter``: the CLI's
``queue list`` options, the web inbox's filter form and ``GET /api/v1/items``'s query
parameters all come through ``item_filter``, so a filter means the same everywhere and a
wrong one (a department, platform, brand or topic the config does not know, which would
otherwise list nothing) is refused with the names that would work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harken.config import Config
from harken.config.schema import PLATFORM_NAMES
from harken.errors import QueueInputError
from harken.queue.items import STATUSES
from harken.store import Store
from harken.store.repo import OPEN_STATUSES, PRIORITY_ORDER, ItemFilter, department_has_items

_LANGUAGE = re.compile(r"[a-z]{2,3}")
MAX_FILTER_VALUE = 255
MAX_VALUES = 50


def item_filter(
    config: Config,
    store: Store | None = None,
    *,
    departments: Iterable[str] = (),
    statuses: Iterable[str] = (),
    priorities: Iterable[str] = (),
    overdue: bool = False,
    assignee: str | None = None,
    platforms: Iterable[str] = (),
    brands: Iterable[str] = (),
    topic: str | None = None,
    language: str | None = None,
    risk_gte: float | None = None,
    tag: str | None = None,
    incident_id: int | None = None,
) -> ItemFilter:
    """An ``ItemFilter`` of checked values; empty values say nothing. ``statuses`` default to
    the open ones; ``"all"`` is every status. ``assignee="-"`` is "nobody"."""
    wanted_statuses = _given(statuses)
    if "all" in wanted_statuses:
        wanted_statuses = list(STATUSES)
    _known("status", wanted_statuses, STATUSES)
    wanted_priorities = _given(priorities)
    _known("priority", wanted_priorities, PRIORITY_ORDER)
    wanted_platforms = [p.lower() for p in _given(platforms)]
    _known("platform", wanted_platforms, PLATFORM_NAMES)
    wanted_brands = _given(brands)
    _known("brand", wanted_brands, [b.name for b in config.brands])
    wanted_departments = _given(departments)
    for department in wanted_departments:
        _department(config, store, department)
    topic = _one(topic)
    if topic is not None:
        _known("topic", [topic], config.topics)
    language = _one(language)
    if language is not None and not _LANGUAGE.fullmatch(language.lower()):
        raise QueueInputError(
            f"{language[:20]!r} is not a language code", hint="two letters, e.g. en or ja"
        )
    if risk_gte is not None and not 0.0 <= risk_gte <= 1.0:
        raise QueueInputError(f"risk must be between 0 and 1, not {risk_gte}")
    assignee = _one(assignee)
    return ItemFilter(
        departments=tuple(wanted_departments),
        statuses=tuple(wanted_statuses) or OPEN_STATUSES,
        priorities=tuple(wanted_priorities),
        overdue=overdue,
        assignee=assignee if assignee != "-" else None,
        unassigned=assignee == "-",
        platforms=tuple(wanted_platforms),
        brands=tuple(wanted_brands),
        topic=topic,
        language=language.lower() if language else None,
        risk_gte=risk_gte,
        tag=_one(tag),
        incident_id=incident_id,
    )


def _given(values: Iterable[str]) -> list[str]:
    """Each value once, trimmed; "a,b" counts as two (a query string's habit). At most
    ``MAX_VALUES`` of them, each printable: a filter is a handful of names."""
    found: dict[str, None] = {}
    for value in values:
        for part in str(value).split(","):
            part = _one(part)
            if part is not None:
                found[part] = None
            if len(found) > MAX_VALUES:
                raise QueueInputError(f"a filter takes at most {MAX_VALUES} values")
    return list(found)


def _one(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > MAX_FILTER_VALUE or not value.isprintable():
        raise QueueInputError(f"a filter value is at most {MAX_FILTER_VALUE} printable characters")
    return value or None


def _known(what: str, given: list[str], known: Iterable[str]) -> None:
    names = list(known)
    for value in given:
        if value not in names:
            listed = ", ".join(names) if names else f"none: the config names no {what}"
            raise QueueInputError(f"unknown {what} {value[:80]!r}", hint=f"known: {listed}")


def _department(config: Config, store: Store | None, name: str) -> None:
    """A department of the config, or one the store still has items for (removed since)."""
    if config.find_department(name) is not None:
        return
    if store is not None:
        with store.session() as session:
            if department_has_items(session, name):
                return
    names = ", ".join(d.name for d in config.departments)
    raise QueueInputError(f"unknown department {name[:80]!r}", hint=f"known: {names}")
