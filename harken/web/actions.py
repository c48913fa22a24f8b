"""One table from an action's name (a form's, the API's ``POST /api/v1/items/{id}/{action}``)
to the queue action it calls, so that the pages and the API cannot drift apart. Every call
passes the department permission hook (``departments[].may_act``, roles): a viewer, or a
department user on another department's item, is refused by the library, not by the page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from harken.config import Config
from harken.errors import QueueInputError
from harken.queue import actions as queue
from harken.queue.actors import Actor
from harken.queue.items import Change
from harken.queue.people import department_permission
from harken.queue.tickets import open_ticket
from harken.store import Store

# What each takes from the form or JSON body besides the item: (field, required).
ACTIONS: dict[str, tuple[tuple[str, bool], ...]] = {
    "claim": (),
    "assign": (("assignee", True),),
    "transfer": (("department", True), ("note", False)),
    "resolve": (("note", False),),
    "dismiss": (("reason", False), ("note", False)),
    "reopen": (("note", False),),
    "note": (("text", True),),
    "tag": (("tags", True),),
    "ticket": (("system", True),),  # jira or zendesk, as set up in tickets:
}
BULK = ("claim", "resolve", "dismiss", "reopen")
MAX_FIELD = 4000
MULTILINE = ("note", "text")


def perform(
    config: Config,
    store: Store,
    actor: Actor,
    item_id: int,
    action: str,
    given: Mapping[str, Any],
    request_key: str | None = None,
) -> Change:
    """Do ``action`` on the item as ``actor``; QueueError (or a subclass) when it cannot be."""
    if action not in ACTIONS:
        raise QueueInputError(
            f"unknown action {action[:40]!r}", hint="one of: " + ", ".join(ACTIONS)
        )
    fields = _fields(action, given)
    may = department_permission(config, store)
    key = request_key
    match action:
        case "claim":
            return queue.claim(store, item_id, actor, may=may, request_key=key, config=config)
        case "assign":
            return queue.assign(store, item_id, actor, fields["assignee"], may=may, config=config)
        case "transfer":
            return queue.transfer(
                store, config, item_id, actor, fields["department"], fields.get("note"),
                may=may, request_key=key,
            )  # fmt: skip
        case "resolve":
            return queue.resolve(
                store, item_id, actor, fields.get("note"), may=may, request_key=key,
                config=config,
            )  # fmt: skip
        case "dismiss":
            return queue.dismiss(
                store, item_id, actor, fields.get("note"), reason=fields.get("reason"),
                may=may, request_key=key, config=config,
            )  # fmt: skip
        case "reopen":
            return queue.reopen(store, item_id, actor, fields.get("note"), may=may, request_key=key)
        case "note":
            return queue.add_note(store, item_id, actor, fields["text"], may=may)
        case "ticket":  # created by the outbox (the daemon's, or `harken alerts flush`)
            return open_ticket(store, config, item_id, actor, fields["system"], may=may)
        case _:  # tag
            tags = [t for t in fields["tags"].split(",") if t.strip()]
            return queue.tag(store, item_id, actor, tags, may=may)


def _fields(action: str, given: Mapping[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, required in ACTIONS[action]:
        value = given.get(name)
        if isinstance(value, list) and name == "tags":  # JSON may send tags as a list
            if not all(isinstance(v, str) for v in value):
                raise QueueInputError("tags must be text")
            value = ",".join(value)
        if value is not None and not isinstance(value, str):
            raise QueueInputError(f"{name} must be text, not {type(value).__name__}")
        text = (value or "").strip()
        if len(text) > MAX_FIELD:
            raise QueueInputError(f"{name} is longer than {MAX_FIELD} characters")
        # A note may have lines; nothing may carry NUL or other control characters (the
        # terminal, Slack and PostgreSQL all take them badly).
        text = text.replace("\r\n", "\n")
        if name in MULTILINE:
            bad = any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text)
        else:  # one line, shown beside names: no direction overrides either
            bad = not text.isprintable()
        if bad:
            raise QueueInputError(f"{name} has control characters")
        if required and not text:
            raise QueueInputError(f"{action} needs {name}")
        if text:
            fields[name] = text
    return fields
