"""The route stage: classified mentions given an incident, a fresh risk, their decisions and
what follows from them (``harken.routing.items``), a batch per transaction, one router at a
time per database.
"""

from __future__ import annotations

import bisect
import time
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Session

from harken.config import Config
from harken.pipeline.progress import Progress, no_progress
from harken.pipeline.rescore import RECENT, rescore
from harken.queue.platform_answers import staff_replied
from harken.routing import impersonation, incidents
from harken.routing.items import (
    AlertPlan,
    RouteResult,
    apply_decisions,
    not_queued_json,
    subject_of,
)
from harken.routing.rules import Router
from harken.store import Store, incident_posts, repo
from harken.store import sources as source_repo
from harken.store.complaints import role_flags
from harken.store.lock import serial_session
from harken.store.statistics import analyze_if_stale
from harken.store.tables import Author, Classification, Mention, utcnow


def route_pending(
    store: Store,
    config: Config,
    batch_size: int = 200,
    max_batches: int | None = None,
    on_progress: Progress = no_progress,
    router: Router | None = None,
    plan: AlertPlan | None = None,
    seconds: float | None = None,
) -> RouteResult:
    """Route batches until none is left. A worker or a scheduler that routes again and
    again passes its ``router`` and alert ``plan``; otherwise they are built from config.
    ``seconds``: each batch commits once it has run this long, whatever its size."""
    router = Router(config.routing, config.topics) if router is None else router
    sinks = AlertPlan.of(config) if plan is None else plan
    result = RouteResult()
    batches, size = 0, batch_size
    while max_batches is None or batches < max_batches:
        n = route_batch(store, config, router, sinks, result, size, seconds)
        if not n:
            break
        batches += 1
        on_progress("route", n)
        if seconds is not None:  # read about what the time allows, not posts left unrouted
            size = min(batch_size, n + n // 4 + 1)
    return result


def route_batch(
    store: Store,
    config: Config,
    router: Router,
    sinks: AlertPlan,
    result: RouteResult,
    batch_size: int = 200,
    seconds: float | None = None,
) -> int:
    """Route the oldest classified, unrouted mentions in one transaction. Returns how many
    were routed (0: nothing pending). ``seconds``: commit once the batch has run this long
    (at least one post routed), leaving the rest for the next batch: a transaction holds
    SQLite's one write lock, which a listener storing posts meanwhile waits for (5 s at most),
    and on PostgreSQL the rows of the items it folded posts into, which a person's action on
    them waits for.

    One router at a time per database (serial_session): a post joins the incidents and open
    items of the posts before it, so two routers at once could open the same incident or item
    twice. Only one brand's posts share incidents, but routers of two brands at once would
    still commit their alerts out of id order, and a department's channel takes the alerts of
    every brand in id order: a sender could then pass an alert that is not committed yet."""
    analyze_if_stale(store)  # PostgreSQL: a growing table's plan (store/statistics.py)
    with serial_session(store, "route") as session, session.no_autoflush:
        # Read after the lock: what the router before us committed is not routed twice.
        rows = repo.unrouted(session, batch_size)
        snapshotted = source_repo.snapshotted(session, [m.id for m, _, _ in rows])
        before = {m.id for m, _, _ in rows if m.incident_id is not None}  # routed again
        earliest = min((m.created_at for m, _, _ in rows), default=utcnow())
        joined = BatchJoins(session, before, earliest - RECENT)  # type: ignore[arg-type]
        incidents.prepare(session, [(m, c) for m, _, c in rows], config.incidents)
        started, routed = time.monotonic(), 0
        for mention, author, classification in rows:
            if routed and seconds is not None and time.monotonic() - started > seconds:
                break  # the rest stay unrouted, the oldest first: the next batch's
            _route_one(
                session, config, router, sinks, mention, author, classification, result,
                mention.id in snapshotted, joined,
            )  # fmt: skip
            routed += 1
        # No autoflush in a batch: it wrote every pending change before each query, a few
        # flushes a post, most of the stage's time. The batch's changes are written at the
        # commit; what a later post must see before that is written by its own statement
        # (new incidents, items and alerts, incident keys, storm centroids) or counted in
        # memory (its incident's recent posts: ``joined``).
    return routed


class BatchJoins:
    """The posts this batch has joined to incidents and not written yet (the session writes
    them at the commit, or when something flushes it). An incident's posts in the last hour
    are its stored ones plus these; ``routed_before`` (posts routed again) are left out of the
    stored count until written, since their stored rows still name their old incident."""

    def __init__(self, session: Session, routed_before: set[int], since: datetime) -> None:
        self._unwritten: dict[int, list[tuple[datetime, int]]] = {}
        self._stale: set[int] = set()
        self._routed_before = routed_before
        self._since = since  # the earliest post of the batch, less RECENT
        # An incident's stored posts since ``since``: their times, sorted, and each one's.
        self._stored: dict[int, tuple[list[datetime], dict[int, datetime]]] = {}
        event.listen(session, "after_flush", lambda *_: self._written())

    def _written(self) -> None:
        self._unwritten.clear()
        self._stale.clear()
        self._stored.clear()  # the flush wrote the batch's posts: read them as stored

    def add(self, incident_id: int, mention: Mention) -> None:
        assert mention.id is not None
        # Kept sorted, so that ``recent`` counts by bisection: a storm's incident may take
        # most of a batch's posts, and each of them counts those before it.
        bisect.insort(self._unwritten.setdefault(incident_id, []), (mention.created_at, mention.id))
        if mention.id in self._routed_before:
            self._stale.add(mention.id)

    def merged(self, into: int, others: tuple[int, ...]) -> None:
        """Incidents merged into ``into`` (storm_merge): their posts are its posts."""
        for other in others:
            moved = self._unwritten.pop(other, [])
            self._unwritten[into] = sorted(self._unwritten.get(into, []) + moved)
            self._stored.pop(other, None)
        self._stored.pop(into, None)  # read again: the merged posts are stored under it now

    def recent(self, session: Session, incident_id: int, mention: Mention) -> int:
        since = mention.created_at - RECENT
        own = mention.id
        assert own is not None
        if incident_id not in self._stored:  # one statement per incident and batch
            posts = dict(incident_posts.incident_posts_since(session, incident_id, self._since))
            self._stored[incident_id] = (sorted(posts.values()), posts)
        times, posted = self._stored[incident_id]
        left_out = self._stale | {own}  # few: the batch's posts routed again
        stored = len(times) - bisect.bisect_left(times, since)
        stored -= sum(1 for other in left_out if other in posted and posted[other] >= since)
        unwritten = self._unwritten.get(incident_id, [])
        later = len(unwritten) - bisect.bisect_left(unwritten, (since,))  # at >= since
        entry = (mention.created_at, own)
        at = bisect.bisect_left(unwritten, entry)
        itself = at < len(unwritten) and unwritten[at] == entry  # not one of its own others
        return stored + later - itself


def _route_one(
    session: Session,
    config: Config,
    router: Router,
    sinks: AlertPlan,
    mention: Mention,
    author: Author,
    c: Classification,
    result: RouteResult,
    snapshotted: bool,
    joined: BatchJoins,
) -> None:
    impostor = impersonation.mark(config, mention, author, c)
    # An impostor's post is not one more report of the customers' problem: it never joins
    # their storm (it would fold into their items); copies and shared links still group it.
    assignment = incidents.assign(session, mention, c, config.incidents, storms=impostor is None)
    incident = assignment.incident
    assert incident.id is not None
    if assignment.merged is not None:
        joined.merged(assignment.merged.into, assignment.merged.merged)
    if not incidents.own_answer(mention):  # the brand's answer is no growth of the problem
        joined.add(incident.id, mention)  # before anything can flush it
    # Now that the mention has an incident, its growth is part of the risk.
    recent = 0 if assignment.created else joined.recent(session, incident.id, mention)
    rescore(session, config, mention, author, c, incident.id, assignment.created, snapshotted,
            recent=recent)  # fmt: skip
    incidents.raise_top(incident, mention, c.risk)  # the risk as rescored (and floored)
    now = utcnow()
    subject = subject_of(mention, author, c, config)
    decisions = impersonation.decide(config, router.route(subject), impostor)
    if decisions:
        apply_decisions(
            session, config, sinks, mention, c.risk, incident.id, assignment.created, decisions,
            now, result,
        )  # fmt: skip
    else:  # the brand's own, staff or moderator post that no rule with roles: takes
        mention.routing = [not_queued_json(router.set_apart(subject) or "not queued")]
    # Counted apart from customers' complaints in reports and the digest (store.complaints).
    mention.flags = role_flags(mention.flags, subject.role)
    if subject.role in ("own", "staff"):
        answered = staff_replied(session, mention, author.handle, config.routing.default)
        result.responded += len(answered)
    mention.routed_at = now
    session.add(mention)
    result.mentions += 1
