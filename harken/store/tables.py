"""The database schema (SQLModel). Alembic migrations in ``migrations/`` create it.

Platform ids are strings (tweet ids overflow 32-bit integers); every timestamp is stored as
UTC and comes back timezone-aware, whatever the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; returns aware UTC datetimes (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Author(SQLModel, table=True):
    __tablename__ = "authors"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_author_platform_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    handle: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=255)
    followers: int | None = None
    verified: bool = False
    url: str | None = Field(default=None, max_length=1024)
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Mention(SQLModel, table=True):
    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_mention_platform_id"),
        Index("ix_mentions_created_at", "created_at"),
        Index("ix_mentions_routed_at", "routed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    external_id: str = Field(max_length=512)
    brand: str | None = Field(default=None, max_length=255)
    text: str = Field(sa_type=Text)
    url: str | None = Field(default=None, max_length=2048)
    language: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    collected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    author_id: int = Field(foreign_key="authors.id")
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    ref_kind: str | None = Field(default=None, max_length=16)
    ref_external_id: str | None = Field(default=None, max_length=512)
    conversation_id: str | None = Field(default=None, max_length=512)
    source: str = Field(default="", max_length=255)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # Set in the same transaction as the mention's queue items: the route stage's bookmark.
    routed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Classification(SQLModel, table=True):
    __tablename__ = "classifications"

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mentions.id", unique=True)
    model: str = Field(max_length=255)
    sentiment: str = Field(max_length=16)
    sentiment_scores: dict[str, float] = Field(default_factory=dict, sa_type=JSONType)
    complaint: float
    abuse: float
    risk: float
    risk_factors: list[str] = Field(default_factory=list, sa_type=JSONType)
    topics: list[str] = Field(default_factory=list, sa_type=JSONType)
    language: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("brand", "key", name="uq_incident_brand_key"),)

    id: int | None = Field(default=None, primary_key=True)
    brand: str = Field(default="", max_length=255)
    # What groups posts: the original post a retweet/quote points at, else the post itself.
    key: str = Field(max_length=600)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    size: int = 1
    top_mention_id: int | None = Field(default=None, foreign_key="mentions.id")
    status: str = Field(default="open", max_length=16)


class QueueItem(SQLModel, table=True):
    __tablename__ = "queue_items"
    __table_args__ = (
        UniqueConstraint("mention_id", "department", name="uq_queue_mention_department"),
        Index("ix_queue_department_status", "department", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mentions.id")
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    department: str = Field(max_length=64)
    status: str = Field(default="new", max_length=16)
    priority: str = Field(default="normal", max_length=16)
    rule: str | None = Field(default=None, max_length=255)
    reason: str = Field(sa_type=Text)
    due_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """The outbox: an alert is written with its queue item and delivered later, once."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_items.id")
    sink: str = Field(max_length=32)
    channel: str = Field(default="", max_length=255)
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Cursor(SQLModel, table=True):
    """Where a source stopped reading; committed with the mentions it covers."""

    __tablename__ = "cursors"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=255, unique=True)
    value: str = Field(sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SourceHealth(SQLModel, table=True):
    """How each live source is doing: what ``harken sources`` shows and the scheduler reads."""

    __tablename__ = "source_health"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=255, unique=True)
    last_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = 0
    rate_limited_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the API last said about the remaining budget: {remaining, limit, reset_at}.
    quota: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    last_stored: int = 0  # mentions stored by the last poll


class MetricSnapshot(SQLModel, table=True):
    """A mention's engagement at one moment; the series gives its velocity."""

    __tablename__ = "metric_snapshots"
    __table_args__ = (Index("ix_metric_snapshots_mention_taken", "mention_id", "taken_at"),)

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mentions.id")
    taken_at: datetime = Field(sa_type=UTCDateTime)
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    impressions: int | None = None


class Label(SQLModel, table=True):
    """A person's correction of the classifier for one mention (``harken label``)."""

    __tablename__ = "labels"

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mentions.id", unique=True)
    sentiment: str | None = Field(default=None, max_length=16)
    complaint: bool | None = None
    abuse: bool | None = None
    labelled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
