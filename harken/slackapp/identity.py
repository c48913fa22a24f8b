"""Who a Slack user is to harken, and whether they may act on an item.

A Slack user is the config's ``users:`` entry with their member id (``slack_id``); one the
config does not list becomes a harken user on their first action, named from their Slack
profile and kept in the store (``harken.queue.people``), so they are the same user next time.
Every action from Slack is ``Actor(name, via="slack", ref=<Slack user id>)``: queue events
record both, and ``harken queue show`` prints them.

A profile name is data: control characters and bidi overrides are dropped, and it is cut to
what the store keeps. It never grants anything: departments and roles come from the config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harken.config import Config
from harken.errors import QueueError
from harken.queue.actors import MAX_REF, Actor, Permission
from harken.queue.people import department_permission, listed_slack_user, slack_user_name
from harken.store import Store
from harken.text import strip_controls

MAX_PROFILE_NAME = 80  # room left for "-<Slack id>" when the name is taken
_SLACK_ID = re.compile(rf"[A-Z0-9]{{2,{MAX_REF}}}")


def actor_for(
    store: Store, config: Config, user_id: str, profile: Mapping[str, Any] | None
) -> Actor:
    """The harken user the Slack user ``user_id`` is, as the actor of their actions.
    ``profile`` is their Slack profile (``users.info``'s ``user.profile``), if known."""
    if not isinstance(user_id, str) or not _SLACK_ID.fullmatch(user_id):
        raise QueueError(f"{str(user_id)[:80]!r} is not a Slack user id")
    known = listed_slack_user(config, user_id)
    if known is not None:
        return Actor(known.name, via="slack", ref=user_id)
    name = slack_user_name(store, config, user_id, profile_name(profile, user_id))
    return Actor(name, via="slack", ref=user_id)


def profile_name(profile: Mapping[str, Any] | None, user_id: str) -> str:
    """The profile's display name, else its real name, else the id; as plain, short text."""
    for key in ("display_name", "real_name"):
        value = (profile or {}).get(key)
        if isinstance(value, str):
            name = " ".join(strip_controls(value).split())[:MAX_PROFILE_NAME].strip()
            if name:
                return name
    return user_id


def slack_permission(config: Config, store: Store) -> Permission:
    """The hook the Slack app passes as ``may=`` to every queue action: members of the item's
    department, the social team and admins may act, as ``departments[].may_act`` says;
    anyone else gets ``QueuePermissionError("not allowed: ...")`` and nothing changes."""
    return department_permission(config, store)
