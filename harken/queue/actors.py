"""Who acts on a queue item, and whether they may.

Every queue action (``harken.queue.actions``) takes an ``Actor``: a name, the face the action
came through (``cli``, ``slack``, ``web``; ``api`` for a program calling the library) and, where
that face knows people by an id of its own, that id (``ref``: the Slack user id). Each
``queue_events`` row records all three.
Before it changes anything, the action asks a permission hook,
``may(actor, action, item)``: returning allows the action, raising ``QueuePermissionError``
refuses it, and nothing is written. The default hook allows everything, as harken always has.
A deployment sets its own once, with ``set_permission``; a single call can pass ``may=``.

The action names a hook receives are ``ACTIONS``.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Protocol

from harken.config.schema import PLATFORM_NAMES
from harken.errors import QueueError, QueueInputError
from harken.store.tables import QueueItem

MAX_ACTOR = 255  # queue_events.actor, queue_items.assignee / closed_by, replies.actor
MAX_REF = 64  # queue_events.actor_ref, users.slack_id

# The faces, and the platforms: a staff account's reply seen there (accounts:) responds too.
VIA = ("cli", "slack", "web", "api", *PLATFORM_NAMES)

ACTIONS = (
    "claim",
    "assign",
    "transfer",
    "resolve",
    "dismiss",
    "reopen",
    "note",
    "tag",
    "untag",
    "approve",  # a reply's text, before it is sent
    "reply",  # post a reply on the mention's platform
    "ticket",  # hand it to Jira or Zendesk
)


@dataclass(frozen=True)
class Actor:
    """A person (or program) acting on the queue, the face they acted through, and who they
    are there (``ref``: the Slack user id "U0123ABC"; None where the face has no ids)."""

    name: str
    via: str = "api"
    ref: str | None = None

    def __post_init__(self) -> None:
        if self.via not in VIA:
            raise ValueError(f"Actor.via must be one of {', '.join(VIA)}, not {self.via!r}")
        fits(self.name, "the actor's name")
        if self.ref is not None and not 0 < len(self.ref) <= MAX_REF:
            raise ValueError(f"Actor.ref must be 1 to {MAX_REF} characters, not {self.ref!r}")


def as_actor(actor: Actor | str) -> Actor:
    """An ``Actor`` as given, or a bare name as one acting through the library."""
    return actor if isinstance(actor, Actor) else Actor(actor)


def actor_name(explicit: str | None = None) -> str:
    """Who is acting: ``--as NAME``, else $HARKEN_USER, else the login name."""
    if explicit and explicit.strip():
        return fits(explicit.strip(), "--as")
    if os.environ.get("HARKEN_USER", "").strip():
        return fits(os.environ["HARKEN_USER"].strip(), "HARKEN_USER")
    try:
        return fits(getpass.getuser(), "the login name")
    except (KeyError, OSError):
        return "unknown"


def fits(name: str, source: str) -> str:
    """``name`` if it is a name the store can keep and people can read; ``source`` says
    where it came from."""
    if not name.strip():
        raise QueueInputError(f"{source} is empty")
    # PostgreSQL refuses a longer value (SQLite would keep it): say so before any change.
    if len(name) > MAX_ACTOR:
        raise QueueInputError(f"{source} is longer than {MAX_ACTOR} characters")
    if not name.isprintable():  # NUL, escapes, direction overrides: never in a name
        raise QueueInputError(f"{source} has control characters")
    return name


# -- permissions ----------------------------------------------------------------------------


class QueuePermissionError(QueueError):
    """A permission hook refused an action: nothing was changed."""


class Permission(Protocol):
    """Allows ``action`` (one of ``ACTIONS``) on ``item`` by ``actor`` by returning, refuses it
    by raising ``QueuePermissionError``. It is called inside the action's transaction, with the
    item as stored: it reads the item and never changes it."""

    def __call__(self, actor: Actor, action: str, item: QueueItem) -> None: ...


def allow_everything(actor: Actor, action: str, item: QueueItem) -> None:
    """The default: anyone may do anything, as before permissions existed."""


_permission: Permission = allow_everything


def set_permission(hook: Permission | None) -> Permission:
    """Make ``hook`` the one every action asks unless given ``may=``; None restores the default.
    Returns the hook it replaces (to put it back)."""
    global _permission
    previous, _permission = _permission, hook or allow_everything
    return previous


def check_permission(may: Permission | None, actor: Actor, action: str, item: QueueItem) -> None:
    """Ask ``may``, else the hook set with ``set_permission``."""
    (may or _permission)(actor, action, item)
