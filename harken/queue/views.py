"""Department queues as the CLI and other tools see them: listing (the ``queue list`` JSON
contract), one item in full, and the item's life:

    new ──claim──> claimed ──reply --send──> responded
     │                │                          │
     └────────────────┴──── resolve ─────────────┴──> resolved
                      └──── dismiss ─────────────┴──> dismissed   (from any open status)

Every change records who did it and when (``queue_events``). An item's SLA is the time to its
first response; an item still waiting past its due time is escalated by ``escalate_overdue``.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from harken.config import Config
from harken.errors import QueueError, ReplyError
from harken.notify.sinks import alert_sinks
from harken.platforms.replies import ReplyTarget, reply_problems, send_reply
from harken.store import Store, repo
from harken.store.repo import OPEN_STATUSES, QueueRow, queue_rows
from harken.store.tables import (
    Author,
    Classification,
    Incident,
    Mention,
    QueueEvent,
    QueueItem,
    Reply,
    utcnow,
)
from harken.text import human_duration

STATUSES = ("new", "claimed", "responded", "resolved", "dismissed")
WAITING = ("new", "claimed")  # no first response yet: the SLA clock runs


MAX_ACTOR = 255  # queue_events.actor, queue_items.assignee / closed_by, replies.actor


def actor_name(explicit: str | None = None) -> str:
    """Who is acting: ``--as NAME``, else $HARKEN_USER, else the login name."""
    if explicit and explicit.strip():
        return _fits(explicit.strip(), "--as")
    if os.environ.get("HARKEN_USER", "").strip():
        return _fits(os.environ["HARKEN_USER"].strip(), "HARKEN_USER")
    try:
        return _fits(getpass.getuser(), "the login name")
    except (KeyError, OSError):
        return "unknown"


def _fits(name: str, source: str) -> str:
    # PostgreSQL refuses a longer value (SQLite would keep it): say so before any change.
    if len(name) > MAX_ACTOR:
        raise QueueError(f"{source} is longer than {MAX_ACTOR} characters")
    return name


def list_items(
    store: Store, department: str | None, statuses: Sequence[str] | None, limit: int | None
) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = queue_rows(session, department, statuses, limit)
        incidents = _incidents(session, [r.item.incident_id for r in rows])
    now = utcnow()
    return [item_json(row, incidents.get(row.item.incident_id or -1), now) for row in rows]


def item_json(
    row: QueueRow, incident: Incident | None = None, now: datetime | None = None
) -> dict[str, Any]:
    item, mention, author, c = row.item, row.mention, row.author, row.classification
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
        # Added with the queue lifecycle (issue 5); the keys above are the contract.
        "mentions": item.mentions,
        "incident_size": incident.size if incident else None,
        "assignee": item.assignee,
        "claimed_at": _iso(item.claimed_at),
        "responded_at": _iso(item.responded_at),
        "first_response_seconds": _seconds(item.created_at, item.responded_at),
        "closed_at": _iso(item.closed_at),
        "closed_by": item.closed_by,
        "note": item.note,
        "overdue": item.status in WAITING and item.due_at < now,
        "escalation_level": item.escalation_level,
        "escalated_at": _iso(item.escalated_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 1) if end else None


def _incidents(session: Session, ids: Sequence[int | None]) -> dict[int, Incident]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    found = session.execute(select(Incident).where(Incident.id.in_(wanted))).scalars()  # type: ignore[union-attr]
    return {i.id: i for i in found if i.id is not None}


# -- one item in full -----------------------------------------------------------------------


def show_item(store: Store, item_id: int, history_limit: int = 10) -> dict[str, Any]:
    """The item, its incident, its history, its replies, and the author's history."""
    with store.session() as session:
        row = _row(session, item_id)
        incident = session.get(Incident, row.item.incident_id) if row.item.incident_id else None
        data = item_json(row, incident)
        data["incident"] = _incident_json(session, incident) if incident else None
        data["events"] = [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "from": e.from_status,
                "to": e.to_status,
                "note": e.note,
            }
            for e in session.execute(
                select(QueueEvent)
                .where(QueueEvent.queue_item_id == item_id)
                .order_by(QueueEvent.id)
            ).scalars()
        ]
        data["replies"] = [
            {
                "id": r.id,
                "status": r.status,
                "text": r.text,
                "actor": r.actor,
                "url": r.url,
                "external_id": r.external_id,
                "error": r.error,
                "created_at": r.created_at.isoformat(),
                "sent_at": _iso(r.sent_at),
            }
            for r in replies_of(session, item_id)
        ]
        data["author_history"] = author_history(session, row.author, row.mention, history_limit)
    return data


def _incident_json(session: Session, incident: Incident) -> dict[str, Any]:
    last = incident.last_seen
    hour = timedelta(hours=1)
    counts = [
        session.execute(
            select(func.count(Mention.id)).where(
                Mention.incident_id == incident.id,
                Mention.created_at > start - hour,
                Mention.created_at <= start,
            )
        ).scalar_one()
        for start in (last, last - hour)
    ]
    return {
        "id": incident.id,
        "brand": incident.brand,
        "size": incident.size,
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "top_mention_id": incident.top_mention_id,
        # Posts in the hour up to its last post, and in the hour before that.
        "growth": {"last_hour": counts[0], "hour_before": counts[1]},
        "departments": sorted(
            set(
                session.execute(
                    select(QueueItem.department).where(QueueItem.incident_id == incident.id)
                ).scalars()
            )
        ),
    }


def handle_stem(handle: str) -> str:
    """The part of a handle people reuse across platforms: '@Kenji_T', 'kenji_t.bsky.social',
    'kenji_t@mastodon.social' and 'u/kenji_t' all give 'kenji_t'."""
    stem = handle.strip().lower().removeprefix("u/").lstrip("@")
    stem = stem.split("@", 1)[0]
    for suffix in (".bsky.social", ".bsky.team"):
        stem = stem.removesuffix(suffix)
    return stem


def author_history(
    session: Session, author: Author, current: Mention, limit: int
) -> dict[str, Any]:
    """Earlier posts by this author, and by accounts with the same handle on other platforms
    (likely the same person, which harken cannot prove: they are marked as such)."""
    stem = handle_stem(author.handle)
    candidates = select(Author).where(
        Author.platform != author.platform,
        func.lower(Author.handle).contains(stem, autoescape=True),
    )
    others = [
        a
        for a in (session.execute(candidates).scalars() if stem else [])
        if handle_stem(a.handle) == stem
    ]
    ids = {author.id: "same account"} | {a.id: f"same handle on {a.platform}" for a in others}
    rows = session.execute(
        select(Mention, Classification)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
        .where(Mention.author_id.in_(list(ids)), Mention.id != current.id)  # type: ignore[attr-defined]
        .order_by(Mention.created_at.desc(), Mention.id.desc())  # type: ignore[attr-defined]
        .limit(limit)
    ).all()
    outcomes = _outcomes(session, [m.id for m, _ in rows])
    earlier = [
        {
            "mention_id": m.id,
            "platform": m.platform,
            "created_at": m.created_at.isoformat(),
            "text": m.text,
            "sentiment": c.sentiment if c else None,
            "link": ids[m.author_id],
            "items": outcomes.get(m.id, []),
        }
        for m, c in rows
    ]
    total = session.execute(
        select(func.count(Mention.id)).where(Mention.author_id.in_(list(ids)))  # type: ignore[attr-defined]
    ).scalar_one()
    return {
        "accounts": [{"platform": author.platform, "handle": author.handle, "link": "this post"}]
        + [{"platform": a.platform, "handle": a.handle, "link": "same handle"} for a in others],
        "mentions": int(total),
        "earlier": earlier,
    }


def _outcomes(session: Session, mention_ids: list[int | None]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not mention_ids:
        return out
    items = session.execute(
        select(QueueItem).where(QueueItem.mention_id.in_(mention_ids))  # type: ignore[attr-defined]
    ).scalars()
    for item in items:
        text = f"{item.department} {item.status}"
        if item.closed_by:
            text += f" by {item.closed_by}"
        if item.note:
            text += f": {item.note}"
        out.setdefault(item.mention_id, []).append(text)
    return out


def replies_of(session: Session, item_id: int) -> list[Reply]:
    return list(
        session.execute(
            select(Reply).where(Reply.queue_item_id == item_id).order_by(Reply.id)
        ).scalars()
    )


def _row(session: Session, item_id: int) -> QueueRow:
    found = session.execute(
        select(QueueItem, Mention, Author, Classification)
        .join(Mention, Mention.id == QueueItem.mention_id)
        .join(Author, Author.id == Mention.author_id)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
        .where(QueueItem.id == item_id)
    ).first()
    if found is None:
        raise QueueError(
            f"no queue item #{item_id}", hint="`harken queue list` shows the open ones"
        )
    return QueueRow(*found)


# -- changes of status ----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    item_id: int
    before: str
    after: str
    message: str


def claim(store: Store, item_id: int, actor: str, force: bool = False) -> Change:
    with store.session() as session:
        item = _item(session, item_id)
        if item.status not in WAITING:
            raise QueueError(
                f"item #{item_id} is {item.status}; only new or claimed items can be claimed"
            )
        if item.status == "claimed" and item.assignee not in (None, actor) and not force:
            raise QueueError(
                f"item #{item_id} is claimed by {item.assignee}",
                hint="pass --force to take it over",
            )
        item.assignee, item.claimed_at = actor, item.claimed_at or utcnow()
        return _move(
            session, item, "claimed", actor, "claimed", None, f"#{item_id} claimed by {actor}"
        )


def resolve(store: Store, item_id: int, actor: str, note: str | None) -> Change:
    with store.session() as session:
        item = _closable(session, item_id, "resolved")
        return _close(session, item, "resolved", actor, note)


def dismiss(store: Store, item_id: int, actor: str, note: str | None) -> Change:
    with store.session() as session:
        item = _closable(session, item_id, "dismissed")
        return _close(session, item, "dismissed", actor, note)


def _closable(session: Session, item_id: int, to: str) -> QueueItem:
    item = _item(session, item_id)
    if item.status not in OPEN_STATUSES:
        raise QueueError(f"item #{item_id} is already {item.status}; it cannot be {to}")
    return item


def _close(session: Session, item: QueueItem, to: str, actor: str, note: str | None) -> Change:
    item.closed_at, item.closed_by = utcnow(), actor
    item.note = note or item.note
    message = f"#{item.id} {to} by {actor}" + (f": {note}" if note else "")
    return _move(session, item, to, actor, to, note, message)


def _move(
    session: Session,
    item: QueueItem,
    to: str,
    actor: str,
    action: str,
    note: str | None,
    message: str,
) -> Change:
    before, now = item.status, utcnow()
    item.status, item.updated_at = to, now
    session.add(item)
    session.add(
        QueueEvent(
            queue_item_id=item.id,  # type: ignore[arg-type]
            at=now,
            actor=actor,
            action=action,
            from_status=before,
            to_status=to,
            note=note,
        )
    )
    assert item.id is not None
    return Change(item.id, before, to, message)


def _item(session: Session, item_id: int) -> QueueItem:
    item = session.get(QueueItem, item_id)
    if item is None:
        raise QueueError(
            f"no queue item #{item_id}", hint="`harken queue list` shows the open ones"
        )
    return item


def mark_responded(session: Session, item: QueueItem, actor: str, note: str) -> None:
    """A reply was posted: the first one stops the SLA clock."""
    if item.responded_at is None:
        item.responded_at = utcnow()
    item.escalation_level = 0  # answered: no longer overdue (escalated_at keeps the record)
    if item.assignee is None:
        item.assignee = actor
    if item.status in WAITING:
        _move(session, item, "responded", actor, "replied", note, "")
    else:
        session.add(QueueEvent(queue_item_id=item.id, actor=actor, action="replied", note=note))  # type: ignore[arg-type]
        session.add(item)


# -- escalation -----------------------------------------------------------------------------


@dataclass
class EscalationResult:
    escalated: int = 0  # items that reached level 1 (past due) now
    sent_up: int = 0  # items that reached level 2 (past due twice over) now
    alerts: int = 0


def escalate_overdue(store: Store, config: Config, now: datetime | None = None) -> EscalationResult:
    """Items still waiting for a first response past their due time are flagged and
    re-alerted to their department (level 1); still waiting when as long again has passed,
    they are alerted to the department's ``escalate_to`` (level 2). Each level alerts once."""
    now = now or utcnow()
    result = EscalationResult()
    with store.session() as session:
        overdue = session.execute(
            select(QueueItem).where(
                QueueItem.status.in_(WAITING),  # type: ignore[attr-defined]
                QueueItem.due_at < now,
                QueueItem.escalation_level < 2,
            )
        ).scalars()
        for item in list(overdue):
            # A department removed from the config since: its items are the default's now.
            known = _known(config, item)
            department = config.department(item.department if known else config.routing.default)
            sla = department.sla_for(item.priority)
            level = 2 if now >= item.due_at + sla else 1
            if level <= item.escalation_level:
                continue
            to = item.department if known else department.name
            if level == 2 and department.escalate_to:
                to = department.escalate_to
            late = now - item.due_at
            note = (
                f"level {level}: no first response {human_duration(late)} after due; alerted {to}"
            )
            item.escalation_level, item.escalated_at = level, now
            session.add(item)
            session.add(
                QueueEvent(
                    queue_item_id=item.id, at=now, actor="harken", action="escalated", note=note
                )
            )  # type: ignore[arg-type]
            result.escalated += level == 1
            result.sent_up += level == 2
            for sink in alert_sinks(config, to):
                result.alerts += repo.add_alert(
                    session,
                    f"{sink}:escalation-{level}:item-{item.id}",
                    kind="escalation",
                    queue_item_id=item.id,
                    mention_id=item.mention_id,
                    incident_id=item.incident_id,
                    sink=sink,
                    channel=to,
                )
    return result


def _known(config: Config, item: QueueItem) -> bool:
    return any(d.name == item.department for d in config.departments)


# -- replies --------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


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


def plan_reply(
    store: Store, config: Config, item_id: int, text: str | None, template: str | None
) -> ReplyPlan:
    """The reply that would be posted (text filled from a template when not given) and what,
    if anything, stands in its way. No network."""
    with store.session() as session:
        row = _row(session, item_id)
        chosen = None
        if text is None:
            chosen = template or _template_for(config, row)
            if chosen is None:
                raise QueueError(
                    "no reply text and no template for this item",
                    hint="give --text, or add replies.templates (per topic or 'default')",
                )
            if chosen not in config.replies.templates:
                known = ", ".join(config.replies.templates) or "none"
                raise QueueError(f"no reply template {chosen!r}", hint=f"templates: {known}")
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


def send_planned_reply(
    store: Store, config: Config, plan: ReplyPlan, actor: str, force: bool = False
) -> ReplyOutcome:
    """Post the reply once. The attempt is written before the platform is called, so a crash
    in between leaves a visible 'sending' record and the next --send refuses to post again."""
    if plan.problems:
        raise QueueError("cannot send: " + "; ".join(plan.problems))
    with store.session() as session:
        row = _row(session, plan.item_id)
        earlier = replies_of(session, plan.item_id)
        _refuse_repeat(earlier, plan.text, force)
        for reply in earlier:  # --force: whoever looked decided the old attempt is settled
            if reply.status in ("sending", "unknown"):
                reply.status = "superseded"
                session.add(reply)
        target = reply_target(row.mention, row.author)
        attempt = Reply(
            queue_item_id=plan.item_id,
            platform=plan.platform,
            in_reply_to=row.mention.external_id,
            text=plan.text,
            actor=actor,
        )
        session.add(attempt)
        try:
            session.flush()
        except IntegrityError:  # uq_replies_in_flight: someone else is sending right now
            raise QueueError(
                f"another reply to item #{plan.item_id} is being sent right now",
                hint="look at `harken queue show` in a moment",
            ) from None
        attempt_id = attempt.id
    try:
        sent = send_reply(config, target, plan.text)
    except ReplyError as error:
        with store.session() as session:
            failed = session.get(Reply, attempt_id)
            assert failed is not None
            failed.status = "unknown" if error.maybe_posted else "failed"
            failed.error = str(error)[:2000]
        raise
    with store.session() as session:
        done = session.get(Reply, attempt_id)
        item = _item(session, plan.item_id)
        assert done is not None
        done.status, done.sent_at = "sent", utcnow()
        done.external_id, done.url = sent.external_id, sent.url
        mark_responded(session, item, actor, f"reply {sent.url or sent.external_id}")
        first = _seconds(item.created_at, item.responded_at)
    return ReplyOutcome(plan, True, sent.url, sent.external_id, first)


def _refuse_repeat(earlier: list[Reply], text: str, force: bool) -> None:
    if force:
        return
    for reply in earlier:
        if reply.status in ("sending", "unknown"):
            raise QueueError(
                f"reply #{reply.id} to this item was being sent at "
                f"{reply.created_at:%Y-%m-%d %H:%M} UTC and its outcome is unknown",
                hint="check the post on the platform; pass --force to send anyway",
            )
        if reply.status == "sent" and reply.text == text:
            raise QueueError(
                f"this exact reply was already sent ({reply.url or reply.external_id})",
                hint="pass --force to post it again",
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

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise QueueError(
                f"reply template uses {{{name}}}", hint=f"known fields: {', '.join(values)}"
            )
        return values[name]

    return _PLACEHOLDER.sub(fill, template)


def reply_target(mention: Mention, author: Author) -> ReplyTarget:
    return ReplyTarget(
        platform=mention.platform,
        external_id=mention.external_id,
        url=mention.url,
        author_handle=author.handle,
        conversation_id=mention.conversation_id,
        raw=mention.raw or {},
    )
