"""The one place the stages are wired together: ingest -> classify -> route -> notify.

Every stage reads its work from the store and writes its result back in the same
transaction as its bookmark, batch by batch. A process that dies mid-stage leaves finished
batches done and the rest pending; the next pass picks up exactly where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from harken import vectors
from harken.brands import BrandDetector
from harken.classify.classifier import Classifier
from harken.classify.risk import RiskWeights, escalation_risk
from harken.classify.types import Signals
from harken.config import Config, Priority
from harken.notify.outbox import NotifyResult, deliver_pending
from harken.notify.sinks import Sink, alert_sinks, thread_sinks
from harken.platforms.replay import LineRejection
from harken.queue.views import EscalationResult, escalate_overdue
from harken.records import MentionRecord
from harken.routing import incidents
from harken.routing.rules import Decision, Router, Subject
from harken.store import Store, repo
from harken.store import sources as source_repo
from harken.store.lock import serial_session
from harken.store.tables import (
    Author,
    Classification,
    Mention,
    QueueEvent,
    QueueItem,
    utcnow,
)
from harken.text import strip_controls

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (stage, items just finished)


def _no_progress(_stage: str, _n: int) -> None:
    return None


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    off_brand: int = 0  # about none of the configured brands (or excluded)
    own_posts: int = 0  # written by one of the brand's own handles
    rejected: list[LineRejection] = field(default_factory=list)
    # Records the database would not take ("x:123: DataError: ..."): skipped, not retried.
    refused: list[str] = field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.off_brand += other.off_brand
        self.own_posts += other.own_posts
        self.rejected += other.rejected
        self.refused += other.refused


@dataclass
class RouteResult:
    mentions: int = 0
    queue_items: int = 0
    alerts: int = 0


@dataclass
class PassResult:
    classified: int = 0
    route: RouteResult = field(default_factory=RouteResult)
    escalation: EscalationResult = field(default_factory=EscalationResult)
    notify: NotifyResult = field(default_factory=NotifyResult)


def build_classifier(config: Config) -> Classifier:
    return Classifier(
        model=config.classifier.model,
        topics=config.topics,
        topic_threshold=config.classifier.topic_threshold,
        batch_size=config.classifier.batch_size,
        languages=config.classifier.languages,
        risk_weights=risk_weights(config),
        heads_dir=Path(config.classifier.heads) if config.classifier.heads else None,
    )


def risk_weights(config: Config) -> RiskWeights:
    return RiskWeights(**config.risk.model_dump())


# -- ingest ---------------------------------------------------------------------------------


def ingest(
    store: Store,
    config: Config,
    records: Iterable[MentionRecord | LineRejection],
    source: str,
    shift: timedelta | None = None,
    batch_size: int = 500,
    on_progress: Progress = _no_progress,
) -> IngestResult:
    """Store parsed records once each; a batch is one transaction (authors with mentions)."""
    result = IngestResult()
    brands = BrandDetector(config.brands)
    batch: list[MentionRecord] = []
    for record in records:
        if isinstance(record, LineRejection):
            result.rejected.append(record)
            on_progress("ingest", 1)
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            _store_batch(store, batch, brands, source, shift, result, on_progress)
            batch = []
    if batch:
        _store_batch(store, batch, brands, source, shift, result, on_progress)
    return result


def _store_batch(
    store: Store,
    batch: list[MentionRecord],
    brands: BrandDetector,
    source: str,
    shift: timedelta | None,
    result: IngestResult,
    on_progress: Progress,
) -> None:
    with store.session() as session:
        counts = store_records(session, batch, brands, source, shift)
    # Counted only once the transaction committed: a failed batch reports nothing stored.
    result.add(counts)
    on_progress("ingest", len(batch))


def store_records(
    session: Session,
    records: Iterable[MentionRecord],
    brands: BrandDetector,
    source: str,
    shift: timedelta | None = None,
) -> IngestResult:
    """Store what is about a brand and not by the brand itself; the caller commits.

    The batch goes in under one savepoint. Should the database refuse a row (a value it
    cannot hold), the batch is stored again one savepoint per record: the refused records
    are listed in ``refused`` and the others stored, so one bad post cannot hold back its
    page (a page whose cursor never commits is read again, forever). Lost connections and
    locks are not refusals: they fail the whole batch, to be retried."""
    records = list(records)
    try:
        with session.begin_nested():
            return _store_each(session, records, brands, shift, source)
    except REFUSED:
        pass
    counts = IngestResult()
    for record in records:
        try:
            with session.begin_nested():
                counts.add(_store_each(session, [record], brands, shift, source))
        except REFUSED as err:
            reason = refusal_reason(err)
            log.warning(
                "%s: the store refused %s:%s: %s",
                source,
                record.platform,
                record.external_id,
                reason,
            )
            counts.refused.append(f"{record.platform}:{record.external_id}: {reason}")
    return counts


# What a database says about one row it will not hold; not connection or lock failures.
REFUSED = (DataError, IntegrityError, UnicodeError)


def refusal_reason(err: Exception) -> str:
    """The database's one-line reason, without the statement and its parameters (which
    SQLAlchemy puts in str(err), and which hold the stranger's text)."""
    cause = getattr(err, "orig", None) or err
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return strip_controls(f"{type(cause).__name__}: {first}")[:300]


def _store_each(
    session: Session,
    records: list[MentionRecord],
    brands: BrandDetector,
    shift: timedelta | None,
    source: str,
) -> IngestResult:
    counts = IngestResult()
    for record in records:
        if brands.own_account(record.author.handle):
            counts.own_posts += 1
            continue
        brand = brands.brand_of(record.text)
        if brands.active and brand is None:
            counts.off_brand += 1
            continue
        if shift:
            record = _shifted(record, shift)
        author_id = repo.upsert_author(session, record.author)
        if repo.insert_mention(session, record, author_id, brand, source):
            counts.stored += 1
        else:
            counts.duplicates += 1
    return counts


def _shifted(record: MentionRecord, shift: timedelta) -> MentionRecord:
    return replace(record, created_at=record.created_at + shift)


# -- classify -------------------------------------------------------------------------------


def classify_pending(
    store: Store,
    classifier: Classifier,
    batch_size: int = 64,
    max_batches: int | None = None,
    on_progress: Progress = _no_progress,
) -> int:
    done = batches = 0
    while max_batches is None or batches < max_batches:
        n = classify_batch(store, classifier, batch_size)
        if not n:
            break
        done += n
        batches += 1
        on_progress("classify", n)
    return done


def classify_batch(store: Store, classifier: Classifier, batch_size: int = 64) -> int:
    """Claim the oldest unclassified mentions, classify them and store the results, in one
    transaction. Workers on PostgreSQL claim disjoint batches (the rows stay locked while the
    model runs; a worker killed mid-batch lets go of them, uncommitted); on SQLite they take
    turns. Returns how many were classified (0: nothing pending)."""
    serial = store.dialect == "sqlite"
    with serial_session(store, "classify") if serial else store.session() as session:
        rows = repo.unclassified(session, batch_size)
        if not rows:
            return 0
        results = classifier.classify(
            [m.text for m, _ in rows],
            languages=[m.language for m, _ in rows],
            signals=[_signals(m, a) for m, a in rows],
        )
        for (mention, _), c in zip(rows, results, strict=True):
            values = {
                "mention_id": mention.id,
                "model": c.model,
                "sentiment": c.sentiment,
                "sentiment_scores": c.sentiment_scores,
                "complaint": c.complaint,
                "abuse": c.abuse,
                "risk": c.risk,
                "risk_factors": list(c.risk_factors),
                "topics": list(c.topics),
                "topic_scores": c.topic_scores,
                "language": c.language,
                "created_at": utcnow(),
                "vector": vectors.pack(c.vector) if c.vector is not None else None,
                "vector_model": c.vector_model,
            }
            repo.insert_classification(session, values)
    return len(rows)


def _signals(mention: Mention, author: Author) -> Signals:
    engagement = sum(
        v for v in (mention.likes, mention.reposts, mention.replies, mention.quotes) if v
    )
    return Signals(followers=author.followers, verified=author.verified, engagement=engagement)


# -- route ----------------------------------------------------------------------------------


def route_pending(
    store: Store,
    config: Config,
    batch_size: int = 200,
    max_batches: int | None = None,
    on_progress: Progress = _no_progress,
) -> RouteResult:
    router = Router(config.routing, config.topics)
    sinks = AlertPlan.of(config)
    result = RouteResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        n = route_batch(store, config, router, sinks, result, batch_size)
        if not n:
            break
        batches += 1
        on_progress("route", n)
    return result


def route_batch(
    store: Store,
    config: Config,
    router: Router,
    sinks: AlertPlan,
    result: RouteResult,
    batch_size: int = 200,
) -> int:
    """Route the oldest classified, unrouted mentions in one transaction. Returns how many
    were routed (0: nothing pending).

    One router at a time per database (serial_session): a post joins the incidents and open
    items of the posts before it, so two routers at once could open the same incident or item
    twice. Only one brand's posts share incidents, but routers of two brands at once would
    still commit their alerts out of id order, and a department's channel takes the alerts of
    every brand in id order: a sender could then pass an alert that is not committed yet."""
    with serial_session(store, "route") as session:
        # Read after the lock: what the router before us committed is not routed twice.
        rows = repo.unrouted(session, batch_size)
        snapshotted = source_repo.snapshotted(session, [m.id for m, _, _ in rows])
        for mention, author, classification in rows:
            _route_one(
                session, config, router, sinks, mention, author, classification, result,
                mention.id in snapshotted,
            )  # fmt: skip
    return len(rows)


def subject_of(mention: Mention, author: Author, c: Classification) -> Subject:
    return Subject(
        text=mention.text,
        platform=mention.platform,
        brand=mention.brand,
        language=c.language,
        followers=author.followers,
        verified=author.verified,
        sentiment=c.sentiment,
        complaint=c.complaint,
        abuse=c.abuse,
        risk=c.risk,
        topics=tuple(c.topics),
        topic_scores=dict(c.topic_scores or {}),
    )


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
) -> None:
    assignment = incidents.assign(session, mention, c, config.incidents)
    incident = assignment.incident
    # Now that the mention has an incident, its growth is part of the risk.
    rescore(session, config, mention, author, c, incident.id, assignment.created, snapshotted)
    now = utcnow()
    decisions = router.route(subject_of(mention, author, c))
    owned = [] if assignment.created else repo.open_items(session, incident.id)
    if owned and all(d.rule is None for d in decisions):
        # Only the default caught it, but its incident already has owners: it joins their
        # items ("same here" quoting an outage report belongs to engineering, not support).
        for item in owned:
            _fold(session, config, item, mention, None, now)
            result.alerts += _thread_updates(session, sinks, item, mention)
        decisions = []
    for decision in decisions:
        item = None if assignment.created else repo.open_item(session, incident.id, decision)
        if item is not None:
            _fold(session, config, item, mention, decision, now)
            result.alerts += _thread_updates(session, sinks, item, mention)
        else:
            item = _new_item(session, config, mention, incident.id, decision, now)
            result.queue_items += 1
        if sinks.worthy(item, decision, c.risk):
            result.alerts += _queue_alerts(session, sinks, item, incident.id)
    mention.routed_at = now
    mention.routing = [decision_json(d) for d in decisions] or [
        {
            "department": i.department,
            "priority": i.priority,
            "rule": None,
            "reason": f"joined item #{i.id} of its incident",
            "joined": True,
        }
        for i in owned
    ]
    session.add(mention)
    result.mentions += 1


def decision_json(decision: Decision) -> dict[str, str | None]:
    return {
        "department": decision.department,
        "priority": decision.priority.value,
        "rule": decision.rule,
        "reason": decision.reason,
    }


def _new_item(
    session: Session,
    config: Config,
    mention: Mention,
    incident_id: int | None,
    decision: Decision,
    now: datetime,
) -> QueueItem:
    department = config.department(decision.department)
    item = QueueItem(
        mention_id=mention.id,  # type: ignore[arg-type]
        incident_id=incident_id,
        department=decision.department,
        priority=decision.priority.value,
        rule=decision.rule,
        reason=decision.reason,
        due_at=now + department.sla_for(decision.priority),
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    session.add(
        QueueEvent(queue_item_id=item.id, at=now, actor="harken", action="created", to_status="new")  # type: ignore[arg-type]
    )
    return item


def _fold(
    session: Session,
    config: Config,
    item: QueueItem,
    mention: Mention,
    decision: Decision | None,
    now: datetime,
) -> None:
    """A later post of an incident that already has an open item in this department joins
    that item instead of queueing again; a stronger rule raises its priority (and deadline)."""
    item.mentions += 1
    item.updated_at = now
    if decision is not None and decision.priority.rank > Priority(item.priority).rank:
        sla = config.department(item.department).sla_for(decision.priority)
        note = f"priority {item.priority} -> {decision.priority.value} by mention {mention.id}"
        item.priority, item.rule = decision.priority.value, decision.rule
        item.reason = f"{decision.reason} (mention {mention.id}; first: {item.reason})"[:4000]
        item.due_at = min(item.due_at, now + sla)
        session.add(
            QueueEvent(queue_item_id=item.id, at=now, actor="harken", action="raised", note=note)  # type: ignore[arg-type]
        )
    session.add(item)


def rescore_mention(session: Session, config: Config, mention_id: int) -> bool:
    """Rescore one stored, classified mention (after new engagement snapshots)."""
    mention = session.get(Mention, mention_id)
    c = repo.classification_of(session, mention_id)
    if mention is None or c is None:
        return False
    author = session.get(Author, mention.author_id)
    assert author is not None
    return rescore(session, config, mention, author, c, repo.incident_of(session, mention_id))


def rescore(
    session: Session,
    config: Config,
    mention: Mention,
    author: Author,
    c: Classification,
    incident_id: int | None,
    alone: bool = False,
    snapshotted: bool = True,
) -> bool:
    """Recompute a classification's risk with what is known now: incident growth, velocity.

    The text scores stay; only the audience terms change. Returns True when the risk moved.
    ``alone`` (the mention's incident is new) and ``snapshotted=False`` (no engagement
    snapshots) skip queries whose answer is already known.
    """
    recent = 0
    if incident_id is not None and not alone:
        since = mention.created_at - timedelta(hours=1)
        recent = repo.incident_recent(session, incident_id, since, mention.id)
    snapshots = source_repo.snapshots_of(session, mention.id) if snapshotted else []  # type: ignore[arg-type]
    rates = source_repo.velocity(snapshots)
    per_hour = sum(rates.values()) if rates else None
    if not recent and per_hour is None:
        return False
    signals = replace(_signals(mention, author), velocity=per_hour, incident_recent=recent)
    risk, factors = escalation_risk(
        c.complaint,
        c.sentiment_scores.get("negative", 0.0),
        c.abuse,
        signals,
        c.topics,
        risk_weights(config),
    )
    moved = risk != c.risk
    c.risk, c.risk_factors = risk, list(factors)
    session.add(c)
    return moved


@dataclass(frozen=True)
class AlertPlan:
    """Which sinks alert each department, which keep incident threads, and each
    department's threshold (a rule's ``alert: true/false`` overrides it)."""

    config: Config
    alerts: dict[str, list[str]]
    threads: dict[str, list[str]]
    rule_flags: dict[str, bool]

    @classmethod
    def of(cls, config: Config) -> AlertPlan:
        names = [d.name for d in config.departments]
        return cls(
            config,
            alerts={n: alert_sinks(config, n) for n in names},
            threads={n: thread_sinks(config, n) for n in names},
            rule_flags={r.name: r.alert for r in config.routing.rules if r.alert is not None},
        )

    def worthy(self, item: QueueItem, decision: Decision, risk: float) -> bool:
        if decision.rule in self.rule_flags:
            return self.rule_flags[decision.rule]
        own = self.config.department(item.department).alerts
        min_priority = own.min_priority or self.config.alerts.min_priority
        min_risk = own.min_risk if own.min_risk is not None else self.config.alerts.min_risk
        return Priority(item.priority).rank >= min_priority.rank or risk >= min_risk


def _queue_alerts(
    session: Session, sinks: AlertPlan, item: QueueItem, incident_id: int | None
) -> int:
    """One alert per item and sink. Later posts of an incident join its open item, so a
    retweet storm pings once; an item opened after the last one was closed alerts again."""
    return sum(
        repo.add_alert(
            session,
            f"{sink}:incident-{incident_id}:{item.department}:item-{item.id}",
            queue_item_id=item.id,
            mention_id=item.mention_id,
            incident_id=incident_id,
            sink=sink,
            channel=item.department,
        )
        for sink in sinks.alerts.get(item.department, [])
    )


def _thread_updates(session: Session, sinks: AlertPlan, item: QueueItem, mention: Mention) -> int:
    """A post that joined an alerted item becomes a quiet reply in the incident's thread.
    While one reply is still waiting to go out, later posts fold into it (it is rendered
    when sent), so a storm of retweets is one reply, not hundreds."""
    added = 0
    for sink in sinks.threads.get(item.department, []):
        waiting = repo.pending_update(session, sink, item.id)  # type: ignore[arg-type]
        if waiting is not None:
            waiting.mention_id = mention.id
            waiting.payload = {**waiting.payload, "joined": waiting.payload.get("joined", 1) + 1}
            session.add(waiting)
        elif repo.item_alerted(session, sink, item.id):  # type: ignore[arg-type]
            added += repo.add_alert(
                session,
                f"{sink}:update:item-{item.id}:mention-{mention.id}",
                kind="update",
                queue_item_id=item.id,
                mention_id=mention.id,
                incident_id=item.incident_id,
                payload={"joined": 1},
                sink=sink,
                channel=item.department,
            )
    return added


# -- a whole pass ---------------------------------------------------------------------------


def run_pass(
    store: Store,
    config: Config,
    sinks: Mapping[str, Sink],
    classifier: Classifier | None = None,
    on_progress: Progress = _no_progress,
) -> PassResult:
    """Classify, route and notify everything pending; what ingest stored is picked up here.

    The classifier is loaded only when something needs classifying (it takes seconds).
    """
    result = PassResult()
    with store.session() as session:
        pending = repo.count_pending(session)
    if pending["unclassified"]:
        classifier = classifier or build_classifier(config)
        result.classified = classify_pending(
            store, classifier, batch_size=config.classifier.batch_size * 2, on_progress=on_progress
        )
    result.route = route_pending(store, config, on_progress=on_progress)
    result.escalation = escalate_overdue(store, config)
    result.notify = deliver_pending(store, config, sinks)
    return result
