"""Answers seen on the platform: a staff account (accounts:) or the brand's own answered a
customer outside harken, and the queue hears of it (``staff_replied``, called by the route
stage). What happened is recorded, not asked for: no permission, no request of a face."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlmodel import Session

from harken.brands import DISPLAY_NAMES, bare
from harken.queue.actors import MAX_ACTOR, Actor
from harken.queue.items import mark_responded
from harken.store.repo import OPEN_STATUSES
from harken.store.tables import Author, Mention, QueueEvent, QueueItem


def staff_replied(
    session: Session, reply: Mention, handle: str, default_department: str | None = None
) -> list[int]:
    """A staff account (accounts:) or the brand's own answered a post on the platform,
    outside harken: one item of the post (else of the incident it joined) is responded, by
    the handle via the platform, the reply's own time stopping its SLA clock. Which one: the
    default department's (``routing.default``, the customers' queue), else the least urgent
    (the customer's errand; urgent items are escalations, for legal, PR or security to
    judge, which a public answer does not settle). When that item is closed already, the
    answer marks nothing: it never falls to another department's item. The others keep
    their status and escalation. In a thread where every reply points at its first comment
    (Instagram, YouTube, Facebook), the reply answers the person it names (see
    ``_addressed``). An answer across brands marks nothing. Each (reply, item) is recorded
    once, by its request key, however often the reply is routed. Runs in the route stage's
    transaction (no permission asked: it is what happened, not a request); the caller
    commits. Returns the ids of the items it marked responded."""
    if reply.ref_kind != "reply" or not reply.ref_external_id:
        return []
    answered = session.execute(
        select(Mention).where(
            Mention.platform == reply.platform, Mention.external_id == reply.ref_external_id
        )
    ).scalar_one_or_none()
    if answered is None or (reply.brand and answered.brand and reply.brand != answered.brand):
        return []
    addressed = _addressed(session, reply, answered)
    if addressed is None:
        return []  # it names someone else than the thread's posters harken holds
    item = _answering(_items_of(session, addressed), default_department)
    if item is None or item.status not in OPEN_STATUSES:
        return []
    assert item.id is not None
    key = f"staff-reply:{reply.platform}:{reply.external_id}:item-{item.id}"[:128]
    if session.execute(select(QueueEvent.id).where(QueueEvent.request_key == key)).first():
        return []
    if item.responded_at is None:  # the reply's time, not when harken saw it
        item.responded_at = max(reply.created_at, item.created_at)
    note = f"replied on {reply.platform} ({reply.url or reply.external_id})"
    mark_responded(session, item, Actor(handle[:MAX_ACTOR], via=reply.platform), note[:500], key)
    return [item.id]


PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
# The @handles a reply begins with ("@bob", "@bob.smith:", "@bob さん"): ASCII, as handles
# are on the platforms that tag with @; a trailing dot is punctuation.
LEADING_HANDLES = re.compile(r"^\s*((?:@[A-Za-z0-9_.\-]{1,64}[^@\w]{0,3})+)", re.ASCII)
HANDLE = re.compile(r"@([A-Za-z0-9_.\-]{1,64})", re.ASCII)
THREAD_SCAN = 200  # the latest posts of a thread looked at for the person a reply names
# Where every reply of a thread points at its first comment, whichever post it answers.
FLAT_THREADS = frozenset({"instagram", "youtube", "facebook"})


def _answering(items: list[QueueItem], default_department: str | None) -> QueueItem | None:
    """The item a public answer responds to, whatever its status: the default department's,
    else the least urgent (then the first opened), unless that one is urgent: an escalation
    (legal, PR, security) a public answer does not settle."""
    default = [i for i in items if i.department == default_department]
    ranked = sorted(items, key=lambda i: (PRIORITY_ORDER.get(i.priority, 1), i.id))
    chosen = (default or ranked or [None])[0]
    if chosen is not None and not default and chosen.priority == "urgent":
        return None
    return chosen


def _addressed(session: Session, reply: Mention, answered: Mention) -> Mention | None:
    """The post a reply answers. Where threads are flat (every reply points at the thread's
    first comment), a reply that names someone answers that person's latest earlier post in
    the thread: by @handle where the platform tags so, by the name it begins with on
    Facebook (whose tags are names). The thread's first comment when it names nobody, or its
    author; None when it names only people harken holds no post of in the thread."""
    if reply.platform not in FLAT_THREADS or not reply.conversation_id:
        return answered  # elsewhere a reply points at the very post it answers
    author = session.get(Author, answered.author_id)
    tagged = _tagged_ids(reply)  # Facebook's message_tags: the people a reply tags, by id
    if reply.platform in DISPLAY_NAMES:
        named: set[str] = set()
        starts = (reply.text or "").casefold()
    else:
        lead = LEADING_HANDLES.match(reply.text or "")
        named = {bare(h).rstrip(".") for h in HANDLE.findall(lead.group(1))} if lead else set()
        if not named or (author is not None and bare(author.handle) in named):
            return answered
        starts = ""
    rows = session.execute(
        select(Mention, Author.handle, Author.external_id)
        .join(Author, Author.id == Mention.author_id)
        .where(
            Mention.platform == reply.platform,
            Mention.conversation_id == reply.conversation_id,
            Mention.created_at <= reply.created_at,
            Mention.id != reply.id,
        )
        .order_by(Mention.created_at.desc())  # type: ignore[attr-defined]
        .limit(THREAD_SCAN)
    ).all()
    if tagged:
        if author is not None and author.external_id in tagged:
            return answered
        return next((m for m, _, ident in rows if ident in tagged), None)
    if starts:  # Facebook without tags: "Tomás Ruiz, …" names Tomás
        if author is not None and _begins_with(starts, author.handle):
            return answered
        return next((m for m, name, _ in rows if _begins_with(starts, name)), answered)
    return next((m for m, name, _ in rows if bare(name) in named), None)


def _tagged_ids(reply: Mention) -> set[str]:
    """The ids of the people a Facebook reply tags (its ``message_tags``; a Page's own tags
    of pages and users alike)."""
    tags = (reply.raw or {}).get("message_tags")
    if not isinstance(tags, list):
        return set()
    return {str(t["id"]) for t in tags if isinstance(t, dict) and t.get("id")}


def _begins_with(text: str, name: str | None) -> bool:
    """Whether the (folded) text begins with the person's whole name: three letters at
    least, and not the start of a longer word ("Ann" is not "Anna Lee, …")."""
    folded = (name or "").casefold()
    if len(folded) < 3 or not text.startswith(folded):
        return False
    after = text[len(folded) : len(folded) + 1]
    return not after or not after.isalnum()


def _items_of(session: Session, answered: Mention) -> list[QueueItem]:
    """Every item the answered post opened, whatever its status; else those of the incident
    it joined (a post that joined folds into its incident's items)."""
    own = session.execute(
        select(QueueItem).where(QueueItem.mention_id == answered.id).order_by(QueueItem.id)
    ).scalars()
    found = list(own)
    if found or answered.incident_id is None:
        return found
    return list(
        session.execute(
            select(QueueItem)
            .where(QueueItem.incident_id == answered.incident_id)
            .order_by(QueueItem.id)
        ).scalars()
    )
