"""Replies to a queue item's post, before anything is sent: the plan (the text, filled from a
template when none is given, where it goes, and what stands in its way) and the templates.
Planning reads and writes nothing; approving and sending are actions
(``harken.queue.actions``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmodel import Session

from harken.config import Config
from harken.config.schema import REPLY_FIELDS, REPLY_PLACEHOLDER
from harken.errors import QueueError, QueueInputError
from harken.platforms.replies import reply_problems
from harken.platforms.reply import ReplyTarget
from harken.queue.actors import Actor, Permission, check_permission
from harken.queue.items import load_item, load_row
from harken.store import Store
from harken.store.repo import OPEN_STATUSES, QueueRow
from harken.store.tables import Author, Mention, QueueEvent


@dataclass(frozen=True)
class ReplyPlan:
    item_id: int
    platform: str
    in_reply_to: str  # the mention's URL, else its id
    text: str
    template: str | None  # the template used, if any
    problems: list[str]


@dataclass(frozen=True)
class ReplyOutcome:
    plan: ReplyPlan
    sent: bool
    url: str | None = None
    external_id: str | None = None
    first_response_seconds: float | None = None
    approved_by: list[str] = field(default_factory=list)  # who approved this exact text


@dataclass(frozen=True)
class Draft:
    """A reply written for approval (``harken.queue.actions.draft_reply``): its ``drafted``
    event, and who wrote it (as they acted: name, face, id there)."""

    event_id: int
    item_id: int
    text: str
    author: Actor
    repeated: bool = False  # the same request drafted it before (draft_reply's request_key)


def draft_of(store: Store, event_id: int) -> Draft | None:
    """The draft that the ``drafted`` event ``event_id`` recorded; None if there is none."""
    with store.session() as session:
        found = session.get(QueueEvent, event_id)
        if found is None or found.action != "drafted" or found.note is None:
            return None
        return draft_from(found)


def draft_from(drafted: QueueEvent) -> Draft:
    """The draft a ``drafted`` event records, its author as they acted."""
    assert drafted.id is not None and drafted.note is not None
    author = Actor(drafted.actor, via=drafted.via or "api", ref=drafted.actor_ref)
    return Draft(drafted.id, drafted.queue_item_id, drafted.note, author)


def may_reply(store: Store, item_id: int, actor: Actor, may: Permission | None) -> None:
    """Raises what the permission hook says if ``actor`` may not reply to the item (a face
    asks before it lets someone write a reply that would be refused); writes nothing."""
    with store.session() as session:
        check_permission(may, actor, "reply", load_item(session, item_id))


def plan_reply(
    store: Store, config: Config, item_id: int, text: str | None, template: str | None
) -> ReplyPlan:
    """The reply that would be posted (text filled from a template when not given) and what,
    if anything, stands in its way. No network."""
    with store.session() as session:
        return plan_in(session, config, item_id, text, template)


def plan_in(
    session: Session, config: Config, item_id: int, text: str | None, template: str | None
) -> ReplyPlan:
    """``plan_reply`` within a session the caller holds."""
    row = load_row(session, item_id)
    chosen = None
    if text is None:
        chosen = template or _template_for(config, row)
        if chosen is None:
            raise QueueInputError(
                "no reply text and no template for this item",
                hint="give --text, or add replies.templates (per topic or 'default')",
            )
        if chosen not in config.replies.templates:
            known = ", ".join(config.replies.templates) or "none"
            raise QueueInputError(f"no reply template {chosen!r}", hint=f"templates: {known}")
        text = fill_template(config.replies.templates[chosen], row)
    target = reply_target(row.mention, row.author)
    problems = reply_problems(config, target, text)
    if row.item.status not in OPEN_STATUSES:
        problems.append(f"item #{item_id} is {row.item.status}")
    return ReplyPlan(
        item_id,
        row.mention.platform,
        row.mention.url or row.mention.external_id,
        text,
        chosen,
        problems,
    )


def _template_for(config: Config, row: QueueRow) -> str | None:
    topics = list(row.classification.topics) if row.classification else []
    for topic in topics:
        if topic in config.replies.templates:
            return topic
    return "default" if "default" in config.replies.templates else None


def fill_template(template: str, row: QueueRow) -> str:
    values = {
        "author": row.author.handle,
        "brand": row.mention.brand or "",
        "platform": row.mention.platform,
        "department": row.item.department,
        "item": str(row.item.id),
    }
    assert tuple(values) == REPLY_FIELDS  # what the config lets templates name

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise QueueError(
                f"reply template uses {{{name}}}", hint=f"known fields: {', '.join(values)}"
            )
        return values[name]

    return REPLY_PLACEHOLDER.sub(fill, template)


def reply_target(mention: Mention, author: Author) -> ReplyTarget:
    return ReplyTarget(
        platform=mention.platform,
        external_id=mention.external_id,
        url=mention.url,
        author_handle=author.handle,
        conversation_id=mention.conversation_id,
        raw=mention.raw or {},
    )
