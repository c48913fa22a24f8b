"""The open items of a member's departments as Slack shows them: ``/harken queue`` and the App
Home list the same items in the same order — overdue first, then as ``harken queue list``
orders them (escalated, most urgent, soonest due) — read through ``harken.queue.views``.

Everything a post, an author or a person wrote is escaped for mrkdwn here (``for_slack``):
a post saying ``<!channel>`` shows those characters and pings no one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from harken.config import Config
from harken.queue.actors import MAX_REF, Actor
from harken.queue.people import person_of
from harken.queue.views import list_items
from harken.store import Store
from harken.store.repo import OPEN_STATUSES, PRIORITY_ORDER
from harken.text import for_slack

Item = dict[str, Any]  # one item as harken.queue.views.item_json has it

SLACK_USER_ID = re.compile(rf"[A-Z0-9]{{2,{MAX_REF}}}")
SEES_ALL = ("social", "admin")  # roles that act on every department's items
POST_CHARS = 200  # of the post, on an item's line
REASON_CHARS = 150


def member_departments(config: Config, store: Store, user_id: str) -> tuple[str, ...]:
    """The configured departments whose items the Slack user ``user_id`` works on: their own
    (``users:`` or the user harken made on their first action); every department for the
    social team and admins who list none. Reading makes no user."""
    if not SLACK_USER_ID.fullmatch(user_id or ""):
        return ()
    person = person_of(config, store, Actor(user_id, via="slack", ref=user_id))
    known = [d.name for d in config.departments]
    if person is None:
        return ()
    if not person.departments and person.role in SEES_ALL:
        return tuple(known)
    return tuple(d for d in known if d in person.departments)


def department_names(config: Config) -> str:
    return ", ".join(for_slack(d.name, one_line=True) for d in config.departments) or "none"


def open_items(store: Store, departments: Sequence[str]) -> list[Item]:
    """Every open item of ``departments``: overdue first, then in ``queue list`` order."""
    items = [i for d in departments for i in list_items(store, d, list(OPEN_STATUSES), None)]
    return sorted(items, key=_order)


def _order(item: Item) -> tuple[Any, ...]:
    rank = PRIORITY_ORDER.get(item["priority"], len(PRIORITY_ORDER))
    return (not item["overdue"], -item["escalation_level"], rank, item["due_at"], item["id"])


def item_line(item: Item) -> str:
    """One item in mrkdwn: what, whose, when due; the post; why it is here."""
    mention, author = item["mention"], item["mention"]["author"]
    head = [
        f"*#{item['id']}*",
        _plain(item["department"], 60),
        _plain(item["priority"], 20),
        _plain(item["status"], 20) + _owner(item),
        f"due {due(item['due_at'])}",
    ]
    if item["escalation_level"]:
        head.append(f"*ESCALATED {item['escalation_level']}*")
    elif item["overdue"]:
        head.append("*OVERDUE*")
    who = _plain(f"{author['handle']} ({mention['platform']})", 80)
    post = for_slack(mention["text"] or "", limit=POST_CHARS, one_line=True)
    why = for_slack(item["reason"] or "", limit=REASON_CHARS, one_line=True)
    return f"{' · '.join(head)}\n>{post or '(no text)'}\n_{who} · why: {why}_"


def due(iso: str) -> str:
    """A due time each reader sees in their own time zone (Slack's date token), with UTC as
    the fallback for clients that cannot show it."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:  # SQLite gives the stored UTC time back without its zone
        moment = moment.replace(tzinfo=UTC)
    fallback = f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _owner(item: Item) -> str:
    return f" ({_plain(item['assignee'], 40)})" if item.get("assignee") else ""


def _plain(text: str | None, limit: int) -> str:
    return for_slack(text or "", limit=limit, one_line=True)
