"""Queries the pipeline stages and the CLI share. Callers own the session (one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session

from harken.records import AuthorRecord, MentionRecord
from harken.store.tables import (
    Alert,
    Author,
    Classification,
    Incident,
    Label,
    Mention,
    QueueItem,
    QueueTag,
    Spike,
    utcnow,
)

PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def dialect_insert(session: Session, table: type[Any]) -> Any:
    """The dialect's own INSERT, which knows ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def upsert_author(session: Session, record: AuthorRecord) -> int:
    """Insert or refresh an author (followers change); returns its id."""
    now = utcnow()
    values = {
        "platform": record.platform,
        "external_id": record.external_id,
        "handle": record.handle,
        "name": record.name,
        "followers": record.followers,
        "verified": record.verified,
        "url": record.url,
        "first_seen": now,
        "updated_at": now,
    }
    return int(session.execute(_author_upsert(_dialect(session)), values).scalar_one())


def insert_mention(
    session: Session,
    record: MentionRecord,
    author_id: int,
    brand: str | None,
    source: str,
    flags: list[str] | None = None,
) -> bool:
    """Store a mention once: returns False when (platform, external_id) is already stored."""
    metrics = dict(record.metrics)
    values = {
        "platform": record.platform,
        "external_id": record.external_id,
        "brand": brand,
        "text": record.text,
        "url": record.url,
        "language": record.language,
        "created_at": record.created_at,
        "collected_at": utcnow(),
        "author_id": author_id,
        "likes": metrics.get("likes"),
        "reposts": metrics.get("reposts"),
        "replies": metrics.get("replies"),
        "quotes": metrics.get("quotes"),
        "metrics": metrics,
        "ref_kind": record.reference[0] if record.reference else None,
        "ref_external_id": record.reference[1] if record.reference else None,
        "conversation_id": record.conversation_id,
        "source": source,
        "raw": dict(record.raw),
        "routed_at": None,
        "flags": flags or [],
    }
    return session.execute(_mention_insert(_dialect(session)), values).first() is not None


# Built once per dialect and executed with parameters: building a statement around literal
# values costs more than the insert itself (SQLAlchemy hashes every value for its cache).


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@cache
def _author_upsert(dialect: str) -> Any:
    table = Author.__table__  # type: ignore[attr-defined]
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    fresh = {k: statement.excluded[k] for k in ("handle", "name", "verified", "url", "updated_at")}
    # Keep a known follower count when a source (Reddit, Bluesky) reports none.
    fresh["followers"] = func.coalesce(statement.excluded.followers, table.c.followers)
    return statement.on_conflict_do_update(
        index_elements=["platform", "external_id"], set_=fresh
    ).returning(table.c.id)


@cache
def _mention_insert(dialect: str) -> Any:
    table = Mention.__table__  # type: ignore[attr-defined]
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return statement.on_conflict_do_nothing(index_elements=["platform", "external_id"]).returning(
        table.c.id
    )


def insert_classifications(session: Session, rows: list[dict[str, Any]]) -> None:
    """A batch's results in one statement (executemany on the connection: a statement per row
    through the ORM cost more than the heads). Another worker may have classified a mention
    meanwhile: the first result wins."""
    if rows:
        session.connection().execute(_classification_insert(_dialect(session)), rows)


@cache
def _classification_insert(dialect: str) -> Any:
    table = Classification.__table__  # type: ignore[attr-defined]
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return statement.on_conflict_do_nothing(index_elements=["mention_id"])


def unclassified(session: Session, limit: int) -> list[tuple[Mention, Author]]:
    """The oldest mentions not yet classified. On PostgreSQL they are claimed: locked
    (``FOR NO KEY UPDATE SKIP LOCKED``) until the caller's transaction ends, so another
    worker's claim skips them and takes the next ones; a worker that dies lets go of them."""
    classified = select(Classification.id).where(Classification.mention_id == Mention.id)
    statement = (
        select(Mention, Author)
        .join(Author, Author.id == Mention.author_id)
        .where(~classified.exists())
        .order_by(Mention.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        statement = statement.with_for_update(skip_locked=True, key_share=True, of=Mention)  # type: ignore[arg-type]
    return [(m, a) for m, a in session.execute(statement).all()]


def unrouted(session: Session, limit: int) -> list[tuple[Mention, Author, Classification]]:
    statement = (
        select(Mention, Author, Classification)
        .join(Author, Author.id == Mention.author_id)
        .join(Classification, Classification.mention_id == Mention.id)
        .where(Mention.routed_at.is_(None))  # type: ignore[union-attr]
        .order_by(Mention.created_at, Mention.id)
        .limit(limit)
    )
    return [(m, a, c) for m, a, c in session.execute(statement).all()]


def mention_id(session: Session, platform: str, external_id: str) -> int | None:
    """The stored post's id (the unique index on platform and external id), or None."""
    return session.execute(
        select(Mention.id).where(Mention.platform == platform, Mention.external_id == external_id)
    ).scalar_one_or_none()


def any_unrouted(session: Session) -> bool:
    """Whether any mention waits for the route stage, unclassified ones too (one indexed look:
    ix_mentions_routed_at)."""
    found = session.execute(
        select(Mention.id).where(Mention.routed_at.is_(None)).limit(1)  # type: ignore[union-attr]
    ).first()
    return found is not None


def count_pending(session: Session) -> dict[str, int]:
    unclassified_n = session.execute(
        select(func.count(Mention.id))
        .outerjoin(Classification, Classification.mention_id == Mention.id)
        .where(Classification.id.is_(None))  # type: ignore[union-attr]
    ).scalar_one()
    unrouted_n = session.execute(
        select(func.count(Mention.id)).where(Mention.routed_at.is_(None))  # type: ignore[union-attr]
    ).scalar_one()
    alerts_n = session.execute(
        select(func.count(Alert.id)).where(Alert.status == "pending")
    ).scalar_one()
    return {"unclassified": unclassified_n, "unrouted": unrouted_n, "alerts": alerts_n}


OPEN_STATUSES = ("new", "claimed", "responded")
WAITING = ("new", "claimed")  # no first response yet: the SLA clock runs


def open_items(session: Session, incident_id: int | None) -> list[QueueItem]:
    if incident_id is None:
        return []
    return list(
        session.execute(
            select(QueueItem)
            .where(
                QueueItem.incident_id == incident_id,
                QueueItem.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
            )
            .order_by(QueueItem.id)
        ).scalars()
    )


def mention_by_id(session: Session, mention_id: int) -> Mention | None:
    return session.get(Mention, mention_id)


def label_of(session: Session, mention_id: int) -> Label | None:
    return session.execute(select(Label).where(Label.mention_id == mention_id)).scalar()


def labelled_texts(session: Session) -> list[tuple[str, Label]]:
    """Every correction with its mention's text, oldest first."""
    rows = session.execute(
        select(Mention.text, Label).join(Label, Label.mention_id == Mention.id).order_by(Label.id)
    ).all()
    return [(text, label) for text, label in rows]


def classification_of(session: Session, mention_id: int) -> Classification | None:
    return session.execute(
        select(Classification).where(Classification.mention_id == mention_id)
    ).scalar_one_or_none()


def alert_exists(session: Session, key: str) -> bool:
    found = session.connection().execute(_alert_key_statement(), {"key": key}).first()
    return found is not None


@cache
def _alert_key_statement() -> Any:
    # On the connection: the route stage asks this for every alert it queues.
    t = Alert.__table__  # type: ignore[attr-defined]
    return select(t.c.id).where(t.c.idempotency_key == bindparam("key")).limit(1)


def add_alert(session: Session, key: str, **fields: Any) -> bool:
    """Put an alert in the outbox unless one with this idempotency key is there already.
    Keys known to be there are kept for the session: every later post of an incident asks
    again for its item's alert (alerts are never deleted while a batch runs)."""
    known: set[str] = session.info.setdefault("alert_keys", set())
    if key in known or alert_exists(session, key):
        known.add(key)
        return False
    insert_now(session, Alert(idempotency_key=key, **fields))
    known.add(key)
    return True


def insert_now(session: Session, row: Any) -> int:
    """Insert a new row by its own statement, now, and return its id: without flushing the
    session's other pending changes (the route stage writes those at the end of its batch,
    and a flush per new incident, item or alert was most of what it cost)."""
    table = type(row).__table__
    values = {c.name: getattr(row, c.name) for c in table.c if c.name != "id"}
    added = session.connection().execute(table.insert(), values)
    return int(added.inserted_primary_key[0])


T = TypeVar("T")


def insert_attached(session: Session, row: T) -> T:
    """``insert_now``, and ``row`` joins the session as the stored row it now is: the caller
    goes on with it, where reading it back by its id was a query per new incident or item."""
    row.id = insert_now(session, row)  # type: ignore[attr-defined]
    make_transient_to_detached(row)  # as if loaded: no history, nothing pending to write
    session.add(row)
    return row


def list_alerts(
    session: Session,
    statuses: Sequence[str] | None = None,
    since: datetime | None = None,
    department: str | None = None,
    limit: int = 50,
) -> list[AlertView]:
    """Newest first."""
    statement = alert_view_query()
    if statuses:
        statement = statement.where(Alert.status.in_(statuses))  # type: ignore[attr-defined]
    if since is not None:
        statement = statement.where(Alert.created_at >= since)  # type: ignore[operator]
    if department:
        statement = statement.where(Alert.channel == department)
    statement = statement.order_by(Alert.id.desc()).limit(limit)  # type: ignore[union-attr]
    return _alert_views(session.execute(statement).all())


def alert_counts(session: Session, since: datetime | None = None) -> dict[str, int]:
    statement = select(Alert.status, func.count()).group_by(Alert.status)
    if since is not None:
        statement = statement.where(Alert.created_at >= since)  # type: ignore[operator]
    return {status: count for status, count in session.execute(statement).all()}


@dataclass(frozen=True)
class SinkHealth:
    """How one sink (a webhook receiver, Slack, PagerDuty...) is doing."""

    sink: str
    counts: dict[str, int]  # by status
    last_sent_at: datetime | None
    last_error: str | None  # of its newest alert that is waiting to retry or failed
    error_status: str | None  # that alert's: pending (to be retried) or failed
    retry_at: datetime | None  # when a pending one is tried again (None: at the next run)


def sink_health(session: Session, since: datetime | None = None) -> list[SinkHealth]:
    """Per sink: its alerts by status, its last delivery and its latest error, by name."""
    counted = select(Alert.sink, Alert.status, func.count()).group_by(Alert.sink, Alert.status)
    sent = select(Alert.sink, func.max(Alert.sent_at)).group_by(Alert.sink)
    if since is not None:
        counted = counted.where(Alert.created_at >= since)  # type: ignore[operator]
    counts: dict[str, dict[str, int]] = {}
    for sink, status, count in session.execute(counted).all():
        counts.setdefault(sink, {})[status] = count
    last_sent = {sink: at for sink, at in session.execute(sent).all()}
    health = []
    for sink in sorted(counts):
        erring = select(Alert.last_error, Alert.status, Alert.next_attempt_at).where(
            Alert.sink == sink,
            Alert.status.in_(("pending", "failed")),  # type: ignore[attr-defined]
            Alert.last_error.is_not(None),  # type: ignore[union-attr]
        )
        if since is not None:
            erring = erring.where(Alert.created_at >= since)  # type: ignore[operator]
        erred = session.execute(erring.order_by(Alert.id.desc()).limit(1)).first()  # type: ignore[union-attr]
        health.append(
            SinkHealth(
                sink,
                counts[sink],
                last_sent.get(sink),
                erred[0] if erred else None,
                erred[1] if erred else None,
                erred[2] if erred and erred[1] == "pending" else None,
            )
        )
    return health


def pending_update(session: Session, sink: str, item_id: int) -> Alert | None:
    """The item's thread reply still waiting to go out, locked (PostgreSQL) so that a sender
    cannot claim it while a router folds another post into it; a reply claimed first is
    no longer pending, and the router queues a new one. So is one that was tried already:
    it may have arrived as it was (a webhook's receiver keeps the first of each event id),
    so what joins after must be news of its own."""
    return session.execute(
        select(Alert)
        .where(
            Alert.sink == sink,
            Alert.queue_item_id == item_id,
            Alert.kind == "update",
            Alert.status == "pending",
            Alert.attempts == 0,
            Alert.sending_at.is_(None),  # type: ignore[union-attr]
        )
        .with_for_update()  # SQLite: no-op (one writer at a time already)
    ).scalar()


def risk_of(session: Session, item: QueueItem) -> float | None:
    """The risk of the item's post, as classified."""
    return session.execute(
        select(Classification.risk).where(Classification.mention_id == item.mention_id)
    ).scalar()


def item_alerted(session: Session, sink: str, item_id: int) -> bool:
    """The item's own alert is out, or on its way (so its thread will exist)."""
    found = session.execute(
        select(Alert.id).where(
            Alert.sink == sink,
            Alert.queue_item_id == item_id,
            Alert.kind == "item",
            Alert.status.in_(("pending", "sending", "sent")),  # type: ignore[attr-defined]
        )
    ).first()
    return found is not None


def paged_elsewhere(session: Session, sink: str, item: QueueItem, channel: str) -> QueueItem | None:
    """Another open item of the item's incident that this sink alerted in this channel (its
    page shares the incident's dedup key there: resolving this one must not close it)."""
    if item.incident_id is None:
        return None
    return session.execute(
        select(QueueItem)
        .join(Alert, Alert.queue_item_id == QueueItem.id)
        .where(
            QueueItem.incident_id == item.incident_id,
            QueueItem.id != item.id,
            QueueItem.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
            Alert.sink == sink,
            Alert.channel == channel,
            Alert.kind.in_(("item", "escalation")),  # type: ignore[attr-defined]
        )
        .limit(1)
    ).scalar()


def item_alert_written(session: Session, sink: str, item_id: int, channel: str) -> bool:
    """An alert of the item (its own, or an escalation) was written for this sink in this
    department's channel, whatever became of it (a webhook skips what it does not subscribe
    to, and still hears the item's closure)."""
    found = session.execute(
        select(Alert.id)
        .where(
            Alert.sink == sink,
            Alert.queue_item_id == item_id,
            Alert.channel == channel,
            Alert.kind.in_(("item", "escalation")),  # type: ignore[attr-defined]
        )
        .limit(1)
    ).first()
    return found is not None


def claim_holders(session: Session) -> list[tuple[str | None, datetime]]:
    """Who holds the alerts being sent now, each with its oldest claim's time."""
    rows = session.execute(
        select(Alert.claimed_by, func.min(Alert.sending_at))  # type: ignore[call-overload]
        .where(Alert.status == "sending")
        .group_by(Alert.claimed_by)
    ).all()
    return [(holder, since) for holder, since in rows]


def take_back_claims(
    session: Session, holder: str | None, note: str, claimed_before: datetime | None = None
) -> int:
    """A gone sender's claims back to pending, still in doubt: ``sending_at`` is kept, so
    the next attempt checks whether the interrupted one arrived before sending again."""
    held = Alert.claimed_by.is_(None) if holder is None else Alert.claimed_by == holder  # type: ignore[union-attr]
    statement = update(Alert).where(Alert.status == "sending", held)  # type: ignore[arg-type]
    if claimed_before is not None:
        statement = statement.where(Alert.sending_at < claimed_before)  # type: ignore[operator,arg-type]
    done = session.execute(statement.values(status="pending", claimed_by=None, last_error=note))
    return int(done.rowcount)  # type: ignore[attr-defined]


def undelivered(session: Session) -> list[tuple[Alert, int]]:
    """Per sink and channel: the first alert not delivered yet (pending, or being sent) and
    how many of them there are."""
    rows = session.execute(
        select(func.min(Alert.id), func.count())
        .where(Alert.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
        .group_by(Alert.sink, Alert.channel)
    ).all()
    counts = {first: count for first, count in rows}
    firsts = session.execute(select(Alert).where(Alert.id.in_(counts))).scalars()  # type: ignore[union-attr]
    return [(alert, counts[alert.id]) for alert in firsts]


@dataclass(frozen=True)
class AlertView:
    """Everything a sink needs to render one alert. Kinds "item", "escalation" and "update"
    have item, mention (for an update: the latest post that joined), author and
    classification; "spike" has spike; "digest" has only the alert (payload {"date": ...})."""

    alert: Alert
    item: QueueItem | None
    mention: Mention | None
    author: Author | None
    classification: Classification | None
    incident: Incident | None
    spike: Spike | None = None


def _alert_views(statement: Any) -> list[AlertView]:
    return [AlertView(*row) for row in statement]


def alert_view_query() -> Any:
    mention_id = func.coalesce(Alert.mention_id, QueueItem.mention_id)
    return (
        select(Alert, QueueItem, Mention, Author, Classification, Incident, Spike)
        .outerjoin(QueueItem, QueueItem.id == Alert.queue_item_id)
        .outerjoin(Mention, Mention.id == mention_id)
        .outerjoin(Author, Author.id == Mention.author_id)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
        .outerjoin(Incident, Incident.id == func.coalesce(Alert.incident_id, QueueItem.incident_id))
        .outerjoin(Spike, Spike.id == Alert.spike_id)
    )


def pending_alerts(session: Session, limit: int, after_id: int = 0) -> list[AlertView]:
    statement = (
        alert_view_query()
        .where(Alert.status == "pending", Alert.id > after_id)
        .order_by(Alert.id)
        .limit(limit)
    )
    return _alert_views(session.execute(statement).all())


def alert_view(session: Session, alert_id: int) -> AlertView | None:
    row = session.execute(_alert_view_statement(), {"alert_id": alert_id}).first()
    return AlertView(*row) if row else None


@cache
def _alert_view_statement() -> Any:
    # Built once: the outbox reads a view three or four times per alert, and building the
    # seven-table join cost as much as running it.
    return alert_view_query().where(Alert.id == bindparam("alert_id"))


@dataclass(frozen=True)
class QueueRow:
    item: QueueItem
    mention: Mention
    author: Author
    classification: Classification | None


@dataclass(frozen=True)
class ItemFilter:
    """Which queue items a face lists. Each field narrows the list; an empty one says
    nothing. ``harken queue list``'s options, the web inbox's filters and the query
    parameters of ``GET /api/v1/items`` are all this one object (checked against the config
    by ``harken.queue.filters``)."""

    departments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = OPEN_STATUSES
    priorities: tuple[str, ...] = ()
    overdue: bool = False  # still waiting for a first response, past its due time
    assignee: str | None = None
    unassigned: bool = False
    platforms: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    topic: str | None = None
    language: str | None = None
    risk_gte: float | None = None
    tag: str | None = None
    incident_id: int | None = None


def queue_rows(
    session: Session,
    department: str | None = None,
    statuses: Sequence[str] | None = None,
    limit: int | None = None,
    *,
    where: ItemFilter | None = None,
    offset: int = 0,
    now: datetime | None = None,
) -> list[QueueRow]:
    statement = (
        select(QueueItem, Mention, Author, Classification)
        .join(Mention, Mention.id == QueueItem.mention_id)
        .join(Author, Author.id == Mention.author_id)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
    )
    if department:
        statement = statement.where(QueueItem.department == department)
    if statuses:
        statement = statement.where(QueueItem.status.in_(statuses))  # type: ignore[attr-defined]
    if where is not None:
        statement = _narrowed(session, statement, where, now or utcnow())
    # Escalated (overdue) first, then most urgent, then the one due soonest; ties by id keep
    # output stable.
    rank = case(PRIORITY_ORDER, value=QueueItem.priority, else_=len(PRIORITY_ORDER))
    statement = statement.order_by(
        QueueItem.escalation_level.desc(),  # type: ignore[attr-defined]
        rank,
        QueueItem.due_at,
        QueueItem.id,
    )
    if offset:
        statement = statement.offset(offset)
    if limit:
        statement = statement.limit(limit)
    return [QueueRow(*row) for row in session.execute(statement).all()]


def count_queue_rows(session: Session, where: ItemFilter, now: datetime | None = None) -> int:
    """How many items ``where`` lists (a page of ``queue_rows`` shows some of them)."""
    statement = (
        select(func.count(QueueItem.id))
        .join(Mention, Mention.id == QueueItem.mention_id)
        .join(Author, Author.id == Mention.author_id)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
    )
    return int(session.execute(_narrowed(session, statement, where, now or utcnow())).scalar_one())


def _narrowed(session: Session, statement: Any, where: ItemFilter, now: datetime) -> Any:
    conditions: list[Any] = []
    if where.departments:
        conditions.append(QueueItem.department.in_(where.departments))  # type: ignore[attr-defined]
    if where.statuses:
        conditions.append(QueueItem.status.in_(where.statuses))  # type: ignore[attr-defined]
    if where.priorities:
        conditions.append(QueueItem.priority.in_(where.priorities))  # type: ignore[attr-defined]
    if where.overdue:
        conditions.append(QueueItem.status.in_(WAITING))  # type: ignore[attr-defined]
        conditions.append(QueueItem.due_at < now)
    if where.assignee is not None:
        conditions.append(QueueItem.assignee == where.assignee)
    if where.unassigned:
        conditions.append(QueueItem.assignee.is_(None))  # type: ignore[union-attr]
    if where.platforms:
        conditions.append(Mention.platform.in_(where.platforms))  # type: ignore[attr-defined]
    if where.brands:
        conditions.append(Mention.brand.in_(where.brands))  # type: ignore[attr-defined]
    if where.language:
        language = func.coalesce(Classification.language, Mention.language)
        conditions.append(language == where.language)
    if where.risk_gte is not None:
        conditions.append(Classification.risk >= where.risk_gte)
    if where.topic:
        conditions.append(_has_topic(session, where.topic))
    if where.tag:
        conditions.append(
            select(QueueTag.id)
            .where(QueueTag.queue_item_id == QueueItem.id, QueueTag.tag == where.tag)
            .exists()
        )
    if where.incident_id is not None:
        conditions.append(QueueItem.incident_id == where.incident_id)
    return statement.where(*conditions) if conditions else statement


def _has_topic(session: Session, topic: str) -> Any:
    """The post's topics list holds ``topic`` (JSONB containment on PostgreSQL, json_each on
    SQLite: a text search would miss names that the JSON escapes differently)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return Classification.topics.cast(postgresql.JSONB).contains([topic])  # type: ignore[attr-defined]
    each = func.json_each(Classification.topics).table_valued("value")
    return select(1).select_from(each).where(each.c.value == topic).exists()


def department_has_items(session: Session, department: str) -> bool:
    """Whether the store holds queue items of ``department`` (one the config may have dropped)."""
    found = session.execute(
        select(QueueItem.id).where(QueueItem.department == department).limit(1)
    ).first()
    return found is not None


def queue_item_for(session: Session, mention_id: int, department: str) -> QueueItem | None:
    """The mention's item in ``department`` (at most one: uq_queue_mention_department)."""
    return session.execute(
        select(QueueItem).where(
            QueueItem.mention_id == mention_id, QueueItem.department == department
        )
    ).scalar_one_or_none()


TAG_BATCH = 1000  # item ids per query


def tags_of(session: Session, item_ids: Sequence[int | None]) -> dict[int, list[str]]:
    """Each item's tags, sorted; an item without tags is not in the result."""
    wanted = sorted({i for i in item_ids if i is not None})
    tags: dict[int, list[str]] = {}
    # In slices: a long `queue list --limit` would pass more ids than a statement may bind.
    for start in range(0, len(wanted), TAG_BATCH):
        rows = session.execute(
            select(QueueTag.queue_item_id, QueueTag.tag)
            .where(QueueTag.queue_item_id.in_(wanted[start : start + TAG_BATCH]))  # type: ignore[attr-defined]
            .order_by(QueueTag.queue_item_id, QueueTag.tag)
        ).all()
        for item_id, tag in rows:
            tags.setdefault(item_id, []).append(tag)
    return tags
