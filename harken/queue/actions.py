"""Queue actions: every change people make to a queue item, whichever face they use (the CLI
today; the Slack app and the web workspace are to call the same functions).

Each action takes the store, the item's id (a reply's: its plan) and an ``Actor`` (a bare name
is an actor of the library), asks the permission hook (``harken.queue.actors``) before it
changes anything, changes the item in one transaction and records one ``queue_events`` row. It
returns a ``Change`` whose ``message`` is the line to show (sending: a ``ReplyOutcome``). A
refused or impossible action raises ``QueueError`` (``QueuePermissionError`` for a refusal)
and writes nothing.

    function              event          permission asked
    claim                 claimed        claim
    assign                assigned       assign
    transfer              transferred    transfer
    resolve               resolved       resolve
    dismiss               dismissed      dismiss
    reopen                reopened       reopen
    add_note              noted          note
    tag                   tagged         tag
    untag                 untagged       untag
    draft_reply           drafted        reply
    approve_reply         approved       approve
    send_planned_reply    replied        reply
    staff_replied         replied        none (an answer seen on the platform: platform_answers.py)

Transfer and dismiss also keep a routing label, in the same transaction
(``harken.queue.feedback``): what harken decided and what the person said instead.

Sending is the one action with more than one transaction: the attempt is written before the
platform is called and its outcome after (see ``send_planned_reply``); it records one event,
once the reply is out.

A face that may receive one request twice (Slack sends a click, a command or a form again when
its answer was late; a second replica may get the copy) passes the request's ``request_key``.
The event records it, in the action's transaction, and it is unique: the same key again, to
this process, a restarted one or another, does nothing and returns what the first did, its
``Change`` marked ``repeated`` (checked under the item's lock, and by the unique key when two
deliveries race).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from harken.config import Config
from harken.errors import QueueError, QueueInputError, ReplyError
from harken.notify.registry import alert_sinks
from harken.platforms.replies import send_reply
from harken.queue.actors import (
    Actor,
    Permission,
    as_actor,
    check_permission,
    fits,
)
from harken.queue.feedback import MOVED, label
from harken.queue.items import (
    WAITING,
    Change,
    earlier_change,
    earlier_event,
    event,
    load_item,
    load_row,
    mark_responded,
    move,
    record,
    replies_of,
    written_once,
)
from harken.queue.replies import Draft, ReplyOutcome, ReplyPlan, reply_target
from harken.routing.items import queue_alerts, queue_claim_alerts, queue_closure_alerts
from harken.store import Store
from harken.store.lock import serial_session
from harken.store.repo import OPEN_STATUSES, queue_item_for, risk_of, tags_of
from harken.store.tables import QueueEvent, QueueItem, QueueTag, Reply, utcnow
from harken.store.views import first_response_seconds

MAX_TAG = 64  # queue_tags.tag

# Why an item needs nothing. Each dismissal keeps its reason as a routing label
# (harken.queue.feedback); "not ours" and "not actionable" tell routing it was wrong.
DISMISS_REASONS = (
    "not ours",
    "not actionable",
    "spam or bot",
    "own or partner account",
    "already handled",
)
DEFAULT_DISMISS_REASON = "not actionable"


def _acting(
    session: Session, item_id: int, actor: Actor, action: str, may: Permission | None
) -> QueueItem:
    """The item, once the permission hook has allowed ``action`` on it."""
    item = load_item(session, item_id)
    check_permission(may, actor, action, item)
    return item


def _open(item: QueueItem, doing: str) -> None:
    if item.status not in OPEN_STATUSES:
        raise QueueError(
            f"item #{item.id} is {item.status}; only open items can be {doing}",
            hint=f"`harken queue reopen {item.id}` first",
        )


# -- who holds it ---------------------------------------------------------------------------


def claim(
    store: Store,
    item_id: int,
    actor: Actor | str,
    *,
    force: bool = False,
    may: Permission | None = None,
    request_key: str | None = None,
    config: Config | None = None,
) -> Change:
    """Take an item: new → claimed, with the actor's name on it. Taking it from someone else
    needs ``force``. With ``config``, the first claim is heard by the sinks that follow
    closures (every face passes it: PagerDuty acknowledges its page, a webhook gets
    item.claimed)."""
    who = as_actor(actor)
    with store.session() as session:
        item = _acting(session, item_id, who, "claim", may)
        if (earlier := earlier_change(session, request_key)) is not None:
            return earlier
        if item.status not in WAITING:
            raise QueueError(
                f"item #{item_id} is {item.status}; only new or claimed items can be claimed"
            )
        if item.status == "claimed" and item.assignee not in (None, who.name) and not force:
            raise QueueError(
                f"item #{item_id} is claimed by {item.assignee}",
                hint="pass --force to take it over",
            )
        first = item.claimed_at is None
        item.assignee, item.claimed_at = who.name, item.claimed_at or utcnow()
        message = f"#{item_id} claimed by {who.name}"
        change = move(session, item, "claimed", who, "claimed", None, message, request_key)
        if first and config is not None:
            queue_claim_alerts(session, config, item)
        return written_once(session, change, request_key)


def assign(
    store: Store,
    item_id: int,
    actor: Actor | str,
    to: str,
    *,
    may: Permission | None = None,
    config: Config | None = None,
) -> Change:
    """Give an open item to someone (a new item becomes claimed, heard as a first claim is:
    see ``claim``); it may be held already."""
    who = as_actor(actor)
    with store.session() as session:
        item = _acting(session, item_id, who, "assign", may)
        assignee = fits(to.strip(), "the assignee")
        _open(item, "assigned")
        if item.assignee == assignee:
            raise QueueError(f"item #{item_id} is already assigned to {assignee}")
        note = assignee + (f" (was {item.assignee})" if item.assignee else "")
        item.assignee = assignee
        first = item.claimed_at is None
        if item.status == "new":
            item.claimed_at = item.claimed_at or utcnow()
        after = "claimed" if item.status == "new" else item.status
        message = f"#{item_id} assigned to {assignee} by {who.name}"
        change = move(session, item, after, who, "assigned", note, message)
        if first and item.claimed_at is not None and config is not None:
            queue_claim_alerts(session, config, item)
        return change


def transfer(
    store: Store,
    config: Config,
    item_id: int,
    actor: Actor | str,
    to: str,
    note: str | None = None,
    *,
    may: Permission | None = None,
    request_key: str | None = None,
) -> Change:
    """Move an open item to another department. Its holder lets go (a claimed item is new
    again, for the new department to claim) and its due time follows the new department's
    SLA, counted from when the item was queued: the customer has waited since then."""
    who = as_actor(actor)
    department = config.known_department(to)
    # Under the router's lock: a route batch running now cannot open a second item for the
    # mention there, nor fold a post into this item with the old department's due time.
    with serial_session(store, "route") as session:
        item = _acting(session, item_id, who, "transfer", may)
        if (earlier := earlier_change(session, request_key)) is not None:
            return earlier
        _open(item, "transferred")
        if item.department == to:
            raise QueueError(f"item #{item_id} is already in {to}")
        _no_item_there(session, item, to)
        label(session, item, who, MOVED, to)  # what harken decided, and who said otherwise
        origin = item.department
        item.department = to
        item.due_at = item.created_at + department.sla_for(item.priority)
        # Its escalation was the old department's lateness: the new one's clock starts at 0.
        item.escalation_level, item.escalated_at = 0, None
        item.assignee = None
        after = "new" if item.status == "claimed" else item.status
        said = f"{origin} → {to}" + (f": {note}" if note else "")
        message = f"#{item_id} transferred from {origin} to {to} by {who.name}" + (
            f": {note}" if note else ""
        )
        change = move(session, item, after, who, "transferred", said, message, request_key)
        change = written_once(session, change, request_key, _queued_there(item.mention_id, to))
        if change.repeated:
            return change
        # A person handed it over: the department that now owns it is told, whatever its
        # alert thresholds (once per item and department, in this same transaction); a
        # sink with a threshold of its own (PagerDuty: critical items) keeps it.
        sinks = alert_sinks(config, to, item.priority, risk_of(session, item))
        queue_alerts(session, sinks, item, {"transferred_from": origin})
        return change


def _no_item_there(session: Session, item: QueueItem, department: str) -> None:
    other = queue_item_for(session, item.mention_id, department)
    if other is not None:
        raise QueueError(
            f"mention {item.mention_id} already has item #{other.id} in {department} "
            f"({other.status})",
            hint=f"work on #{other.id} there, or resolve or dismiss #{item.id}",
        )


def _queued_there(mention_id: int, department: str) -> QueueError:
    """What a transfer says when uq_queue_mention_department stops it: routed there since."""
    return QueueError(
        f"mention {mention_id} was just queued in {department} too",
        hint=f"`harken queue list -d {department}` shows it",
    )


# -- closing and reopening ------------------------------------------------------------------


def resolve(
    store: Store,
    item_id: int,
    actor: Actor | str,
    note: str | None = None,
    *,
    may: Permission | None = None,
    request_key: str | None = None,
    config: Config | None = None,
) -> Change:
    """Close an item as handled. With ``config``, the sinks that follow closures hear of it
    (every face passes it: a webhook's item.resolved, PagerDuty's resolve)."""
    who = as_actor(actor)
    with store.session() as session:
        item = _acting(session, item_id, who, "resolve", may)
        if (earlier := earlier_change(session, request_key)) is not None:
            return earlier
        closable = _closable(item, "resolved")
        change = _close(session, closable, "resolved", who, note, request_key, config)
        return written_once(session, change, request_key)


def dismiss(
    store: Store,
    item_id: int,
    actor: Actor | str,
    note: str | None = None,
    *,
    reason: str | None = None,
    may: Permission | None = None,
    request_key: str | None = None,
    config: Config | None = None,
) -> Change:
    """Close an item that needs nothing: ``reason`` is one of ``DISMISS_REASONS`` (none given:
    "not actionable"), kept as a routing label; ``note`` says more. A reason given starts the
    closing note ("not ours: billing's"), so the item's history says it."""
    who, why = as_actor(actor), dismiss_reason(reason)
    with store.session() as session:
        item = _acting(session, item_id, who, "dismiss", may)
        if (earlier := earlier_change(session, request_key)) is not None:
            return earlier
        _closable(item, "dismissed")
        label(session, item, who, why or DEFAULT_DISMISS_REASON)
        if why is None:  # as before reasons existed: the note alone
            change = _close(session, item, "dismissed", who, note, request_key, config)
            return written_once(session, change, request_key)
        said = why + (f": {note}" if note else "")
        change = _close(session, item, "dismissed", who, said, request_key, config)
        message = f"#{item_id} dismissed by {who.name} as {why}" + (f": {note}" if note else "")
        return written_once(session, replace(change, message=message), request_key)


def dismiss_reason(reason: str | None) -> str | None:
    """``reason`` as one of ``DISMISS_REASONS`` (any case and spacing, ``-`` or ``_`` for a
    space: ``not-ours``), None for none."""
    if reason is None:
        return None
    wanted = " ".join(reason.replace("-", " ").replace("_", " ").split()).lower()
    if wanted not in DISMISS_REASONS:
        raise QueueInputError(
            f"unknown dismiss reason {reason!r}", hint="one of: " + ", ".join(DISMISS_REASONS)
        )
    return wanted


def _closable(item: QueueItem, to: str) -> QueueItem:
    if item.status not in OPEN_STATUSES:
        raise QueueError(f"item #{item.id} is already {item.status}; it cannot be {to}")
    return item


def _close(
    session: Session,
    item: QueueItem,
    to: str,
    actor: Actor,
    note: str | None,
    request_key: str | None = None,
    config: Config | None = None,
) -> Change:
    item.closed_at, item.closed_by = utcnow(), actor.name
    item.note = note or item.note
    message = f"#{item.id} {to} by {actor.name}" + (f": {note}" if note else "")
    change = move(session, item, to, actor, to, note, message, request_key)
    if config is not None:
        queue_closure_alerts(session, config, item)
    return change


def reopen(
    store: Store,
    item_id: int,
    actor: Actor | str,
    note: str | None = None,
    *,
    may: Permission | None = None,
    request_key: str | None = None,
) -> Change:
    """Open a resolved or dismissed item again, as it was before it was closed: responded if
    it was answered, else claimed if someone holds it, else new. An item never answered is
    waiting again against its due time: past it, it escalates from level 1 once more (its
    department is re-alerted only at a level it was not alerted at before)."""
    who = as_actor(actor)
    with store.session() as session:
        item = _acting(session, item_id, who, "reopen", may)
        if (earlier := earlier_change(session, request_key)) is not None:
            return earlier
        if item.status in OPEN_STATUSES:
            raise QueueError(
                f"item #{item_id} is {item.status}, not closed; "
                "only resolved or dismissed items can be reopened"
            )
        after = "responded" if item.responded_at else "claimed" if item.assignee else "new"
        # The closing note said why it was closed; its event keeps it.
        item.closed_at, item.closed_by, item.note = None, None, None
        item.escalation_level, item.escalated_at = 0, None
        message = f"#{item_id} reopened by {who.name} ({after})" + (f": {note}" if note else "")
        change = move(session, item, after, who, "reopened", note, message, request_key)
        return written_once(session, change, request_key)


# -- notes and tags -------------------------------------------------------------------------


def add_note(
    store: Store, item_id: int, actor: Actor | str, text: str, *, may: Permission | None = None
) -> Change:
    """Add a note to the item's history (open or closed); its status stays."""
    who = as_actor(actor)
    if not text.strip():
        raise QueueInputError("the note is empty")
    with store.session() as session:
        item = _acting(session, item_id, who, "note", may)
        return record(session, item, who, "noted", text, f"#{item_id} note by {who.name}: {text}")


def tag(
    store: Store,
    item_id: int,
    actor: Actor | str,
    tags: Sequence[str],
    *,
    may: Permission | None = None,
) -> Change:
    """Put tags on an item (open or closed); those it has already are left as they are."""
    who, wanted = as_actor(actor), _tags(tags)
    with store.session() as session:
        item = _acting(session, item_id, who, "tag", may)
        have = set(tags_of(session, [item_id]).get(item_id, []))
        new = [t for t in wanted if t not in have]
        if not new:
            raise QueueError(f"item #{item_id} already has {_listing(wanted)}")
        session.add_all(QueueTag(queue_item_id=item_id, tag=t) for t in new)
        try:
            session.flush()
        except IntegrityError:  # uq_queue_tags_item_tag: someone tagged it since we looked
            raise QueueError(
                f"item #{item_id} was tagged by someone else just now", hint="try again"
            ) from None
        added = ", ".join(new)
        return record(
            session, item, who, "tagged", added, f"#{item_id} tagged {added} by {who.name}"
        )


def untag(
    store: Store,
    item_id: int,
    actor: Actor | str,
    tags: Sequence[str],
    *,
    may: Permission | None = None,
) -> Change:
    """Take tags off an item; tags it does not have are refused only if none of them is on it."""
    who, wanted = as_actor(actor), _tags(tags)
    with store.session() as session:
        item = _acting(session, item_id, who, "untag", may)
        have = tags_of(session, [item_id]).get(item_id, [])
        gone = [t for t in wanted if t in have]
        if not gone:
            current = ", ".join(have) if have else "none"
            raise QueueError(
                f"item #{item_id} has no {_listing(wanted)}", hint=f"its tags: {current}"
            )
        for row in session.execute(
            select(QueueTag).where(
                QueueTag.queue_item_id == item_id,
                QueueTag.tag.in_(gone),  # type: ignore[attr-defined]
            )
        ).scalars():
            session.delete(row)
        removed = ", ".join(gone)
        message = f"#{item_id} untagged {removed} by {who.name}"
        return record(session, item, who, "untagged", removed, message)


def _tags(tags: Sequence[str]) -> list[str]:
    """Tags as given, trimmed, each once, in order."""
    cleaned = list(dict.fromkeys(t.strip() for t in tags))
    if not cleaned or "" in cleaned:
        raise QueueInputError("a tag is empty")
    for t in cleaned:
        if len(t) > MAX_TAG:
            raise QueueInputError(f"a tag is longer than {MAX_TAG} characters")
    return cleaned


def _listing(tags: Sequence[str]) -> str:
    names = ", ".join(tags)
    return f"tag {names}" if len(tags) == 1 else f"tags {names}"


# -- replies --------------------------------------------------------------------------------


def draft_reply(
    store: Store,
    plan: ReplyPlan,
    actor: Actor | str,
    *,
    may: Permission | None = None,
    request_key: str | None = None,
) -> Draft:
    """Keep a planned reply as a draft for someone else to approve (where replies need
    approval): its text in a ``drafted`` event. Nothing is sent. The same ``request_key``
    again returns the draft it made, marked ``repeated``."""
    who = as_actor(actor)
    if plan.problems:
        raise QueueError("cannot draft: " + "; ".join(plan.problems))
    with store.session() as session:
        item = _acting(session, plan.item_id, who, "reply", may)
        if (earlier := earlier_event(session, request_key)) is not None:
            return _draft_of(earlier, who)
        _open(item, "replied to")
        now = utcnow()
        item.updated_at = now
        session.add(item)
        drafted = event(item, who, "drafted", now, plan.text, request_key=request_key)
        session.add(drafted)
        try:
            session.flush()  # its id names the draft
        except IntegrityError:
            session.rollback()
            if (earlier := earlier_event(session, request_key)) is None:
                raise
            return _draft_of(earlier, who)  # drafted by another delivery of the request
        assert drafted.id is not None
        return Draft(drafted.id, plan.item_id, plan.text, who)


def _draft_of(drafted: QueueEvent, author: Actor) -> Draft:
    assert drafted.id is not None
    return Draft(drafted.id, drafted.queue_item_id, drafted.note or "", author, repeated=True)


def approved_by(store: Store, item_id: int, text: str) -> list[str]:
    """Who approved this exact reply text for the item, earliest first."""
    with store.session() as session:
        return approvers(session, item_id, text)


def approve_reply(
    store: Store,
    plan: ReplyPlan,
    actor: Actor | str,
    *,
    may: Permission | None = None,
    request_key: str | None = None,
) -> Change:
    """Approve a planned reply (``harken.queue.replies.plan_reply``): records its exact text.
    Whoever sends that text later names the approvers in the reply's event, and a face that
    requires approval (``send_planned_reply(require_approval=True)``) sends only such text."""
    who = as_actor(actor)
    with store.session() as session:
        item = _acting(session, plan.item_id, who, "approve", may)  # refused before anything
        if plan.problems:
            raise QueueError("cannot approve: " + "; ".join(plan.problems))
        if (earlier := earlier_change(session, request_key)) is not None:
            return earlier
        _open(item, "replied to")
        if who.name in approvers(session, plan.item_id, plan.text):
            raise QueueError(f"{who.name} already approved this reply to #{plan.item_id}")
        message = f"#{plan.item_id} reply approved by {who.name}"
        change = record(session, item, who, "approved", plan.text, message, request_key)
        return written_once(session, change, request_key)


def approvers(session: Session, item_id: int, text: str) -> list[str]:
    """Who approved this exact reply text for the item, earliest first."""
    found = session.execute(
        select(QueueEvent.actor)
        .where(
            QueueEvent.queue_item_id == item_id,
            QueueEvent.action == "approved",
            QueueEvent.note == text,
        )
        .order_by(QueueEvent.id)
    ).scalars()
    return list(dict.fromkeys(found))


def send_planned_reply(
    store: Store,
    config: Config,
    plan: ReplyPlan,
    actor: Actor | str,
    *,
    force: bool = False,
    require_approval: bool = False,
    may: Permission | None = None,
    request_key: str | None = None,
) -> ReplyOutcome:
    """Post the reply once. The attempt is written before the platform is called, so a crash
    in between leaves a visible 'sending' record and the next --send refuses to post again.
    ``require_approval``: only text someone other than the sender approved is sent. The
    ``request_key`` of a reply sent already returns that reply's outcome, nothing posted
    (while it is being sent, the attempt in flight refuses the second)."""
    who = as_actor(actor)
    with store.session() as session:
        row = load_row(session, plan.item_id)
        check_permission(may, who, "reply", row.item)  # refused before anything else
        if plan.problems:
            raise QueueError("cannot send: " + "; ".join(plan.problems))
        approved = approvers(session, plan.item_id, plan.text)
        if earlier_event(session, request_key) is not None:
            return _sent_before(session, plan, approved)
        if require_approval and not set(approved) - {who.name}:
            raise QueueError(
                f"this reply to #{plan.item_id} is not approved by anyone but its sender",
                hint=f"someone else runs `harken queue approve {plan.item_id}` with this text",
            )
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
            actor=who.name,
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
        item = load_item(session, plan.item_id)
        assert done is not None
        done.status, done.sent_at = "sent", utcnow()
        done.external_id, done.url = sent.external_id, sent.url
        note = f"reply {sent.url or sent.external_id}"
        if approved:
            note += f" (approved by {', '.join(approved)})"
        mark_responded(session, item, who, note, request_key)
        first = first_response_seconds(item)
    return ReplyOutcome(plan, True, sent.url, sent.external_id, first, approved)


def _sent_before(session: Session, plan: ReplyPlan, approved: list[str]) -> ReplyOutcome:
    """The outcome of the reply this request sent already (its latest reply sent)."""
    sent = [r for r in replies_of(session, plan.item_id) if r.status == "sent"]
    last = sent[-1] if sent else None
    item = load_item(session, plan.item_id)
    url, external_id = (last.url, last.external_id) if last else (None, None)
    return ReplyOutcome(plan, True, url, external_id, first_response_seconds(item), approved)


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
