"""One click on an alert's control, read from Slack's ``block_actions`` payload.

Nothing in a payload is trusted: a value that is not an item id, a control harken did not
render or a missing user is refused with a message for the person who clicked.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from threading import Lock
from typing import Any

from harken.notify.slack.controls import (
    CLAIM,
    DISMISS,
    REOPEN,
    RESOLVE,
    TRANSFER,
    item_id_of,
)
from harken.notify.slack.rendered import stale_items
from harken.queue.actors import Actor
from harken.queue.views import show_item
from harken.store import Store

ACTION_IDS = (CLAIM, RESOLVE, DISMISS, REOPEN, TRANSFER)
MAX_ID_DIGITS = 18  # beyond any queue item id; keeps int() of a hostile value cheap


class BadClick(ValueError):
    """A payload harken cannot act on; ``str()`` is safe to show to the person."""


@dataclass(frozen=True)
class Click:
    action_id: str  # one of ACTION_IDS (or the reply controls, harken/slackapp/replies.py)
    user_id: str  # the Slack user who clicked
    item_id: int
    choice: str | None  # transfer: the department; dismiss: the reason (None: a button)
    channel_id: str | None  # where the click happened (for an ephemeral answer)
    profile: Mapping[str, Any]  # the user's names, as identity.actor_for reads a profile
    key: str  # the same for a retried or repeated delivery of this one click
    # key, with the click's trigger, as its queue event records it (None: no stamp to tell
    # this click from the next one, so only the item's state keeps it from acting twice)
    request_key: str | None = None

    @property
    def verb(self) -> str:
        return self.action_id.removeprefix("harken:")


def read_click(
    body: Mapping[str, Any], action: Mapping[str, Any], known: tuple[str, ...] = ACTION_IDS
) -> Click:
    """The click ``action`` of ``body`` on one of the ``known`` controls; BadClick when it is
    not one harken can act on."""
    user = part(body, "user")
    user_id = str(user.get("id") or "")
    if not user_id:
        raise BadClick("this click came without a Slack user")
    action_id = str(action.get("action_id") or "")
    if action_id not in known:
        raise BadClick("that control is not one harken knows")
    choice = _selected(action)
    raw = str(action.get("value") or "") if choice is None else item_id_of(action.get("block_id"))
    if not raw or not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise BadClick("that control does not name a queue item")
    if action_id == TRANSFER and choice is None:
        raise BadClick("choose a department to transfer the item to")
    channel_id = part(body, "container").get("channel_id") or part(body, "channel").get("id")
    stamp = str(action.get("action_ts") or "")
    key = f"{user_id}/{action_id}/{raw}/{choice or ''}/{stamp}"
    trigger = str(body.get("trigger_id") or "")
    durable = request_key("click", key, trigger) if stamp or trigger else None
    profile = slack_profile(user)
    return Click(action_id, user_id, int(raw), choice, channel_id, profile, key, durable)


def slack_profile(user: Mapping[str, Any]) -> dict[str, Any]:
    """A payload's ``user`` as ``identity.actor_for`` reads a profile: block_actions and
    view submissions carry the user's handle, not their profile; it names a new harken user."""
    return {"display_name": user.get("username"), "real_name": user.get("name")}


def refusal(error: Exception) -> str:
    """A permission hook's refusal without its leading "not allowed", for "Not allowed: ..."."""
    said = str(error)
    if said.lower().startswith("not allowed"):
        said = said[len("not allowed") :].lstrip(": ")
    return said


def request_key(kind: str, *parts: object) -> str:
    """A queue event's ``request_key`` for a Slack request: Slack sends a retry (HTTP, with
    X-Slack-Retry-Num) or a Socket Mode envelope again with the very payload it sent first,
    so fields of the payload that differ from one click, command or form to the next name
    it. Hashed: the parts are the sender's text, of any length."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"slack:{kind}:{digest[:48]}"


def behind(store: Store, item_id: int) -> bool:
    """Whether an alert message of the item does not show its latest event: a request came
    again because the process that acted on it stopped before it updated the message."""
    with store.session() as session:
        return item_id in stale_items(session)


def holds(store: Store, actor: Actor, item_id: int) -> bool:
    """Whether ``actor`` holds the item already: a face answers their claim of it itself,
    since the queue would record it again."""
    shown = show_item(store, item_id, history_limit=0)
    return bool(shown["status"] == "claimed" and shown["assignee"] == actor.name)


def part(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``body[key]`` when it is an object, else an empty one (payloads are not trusted)."""
    value = body.get(key)
    return value if isinstance(value, Mapping) else {}


def _selected(action: Mapping[str, Any]) -> str | None:
    option = action.get("selected_option")
    if not isinstance(option, Mapping):
        return None
    value = option.get("value")
    return str(value) if value else None


class Seen:
    """The clicks handled lately (bounded): Slack's retries and a Socket Mode envelope sent
    again carry the same click, which must be acted on once."""

    def __init__(self, size: int = 2000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = Lock()

    def first(self, key: str) -> bool:
        """True the first time ``key`` is seen (and remembers it)."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return True


class ItemLocks:
    """A lock per item: two requests on one item in this process run one after the other."""

    def __init__(self) -> None:
        self._locks: dict[int, Lock] = {}
        self._guard = Lock()

    def __call__(self, item_id: int) -> Lock:
        with self._guard:
            return self._locks.setdefault(item_id, Lock())
