"""The database schema (SQLModel). Alembic migrations in ``migrations/`` create it.

Platform ids are strings (tweet ids overflow 32-bit integers); every timestamp is stored as
UTC and comes back timezone-aware, whatever the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")
# Engagement and follower counts: BIGINT on PostgreSQL, whose INTEGER is 32-bit (a post can be
# seen more than 2**31 times); SQLite's INTEGER already holds 64 bits.
COUNT = BigInteger().with_variant(Integer(), "sqlite")


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
    followers: int | None = Field(default=None, sa_type=COUNT)
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
        Index("ix_mentions_incident", "incident_id", "created_at"),
        Index("ix_mentions_author", "author_id", "created_at"),
        # a thread's posts: which one a brand's answer names (harken.queue.platform_answers)
        Index("ix_mentions_conversation", "platform", "conversation_id", "created_at"),
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
    likes: int | None = Field(default=None, sa_type=COUNT)
    reposts: int | None = Field(default=None, sa_type=COUNT)
    replies: int | None = Field(default=None, sa_type=COUNT)
    quotes: int | None = Field(default=None, sa_type=COUNT)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    ref_kind: str | None = Field(default=None, max_length=16)
    ref_external_id: str | None = Field(default=None, max_length=512)
    conversation_id: str | None = Field(default=None, max_length=512)
    source: str = Field(default="", max_length=255)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # Set in the same transaction as the mention's queue items: the route stage's bookmark.
    routed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The incident it was grouped into at routing, and why ("retweet of x:123", "same URL ...").
    # No foreign key: incidents already point at mentions (their top post), and a cycle
    # would leave SQLAlchemy unable to order the tables.
    incident_id: int | None = None
    incident_reason: str | None = Field(default=None, sa_type=Text)
    # What routing decided: [{department, priority, rule, reason}] (`harken rules test`
    # compares a changed config with these).
    routing: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    # What harken noticed about the post beyond its scores, set when it is routed:
    # ["impersonation"] (harken.authors.impostors). Shown in queue lists and exports.
    flags: list[str] = Field(default_factory=list, sa_type=JSONType)


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
    # Best similarity to each topic's examples (a literal example phrase scores 1).
    topic_scores: dict[str, float] = Field(default_factory=dict, sa_type=JSONType)
    language: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The text's meaning (the base encoder's embedding, float16) and the encoder that made it:
    # near-duplicate grouping and topic replays (`harken rules test`) compare these.
    vector: bytes | None = Field(default=None, sa_type=LargeBinary)
    vector_model: str | None = Field(default=None, max_length=32)


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
    top_risk: float = 0.0  # the top post's risk when it joined (the top is the riskiest)
    status: str = Field(default="open", max_length=16)


class IncidentKey(SQLModel, table=True):
    """What a member brought to its incident: a post id, a text fingerprint, a URL, or a
    locality-sensitive hash band of its meaning. A new post looks its own keys up here (an
    index lookup per key), so grouping never compares a post with every other post."""

    __tablename__ = "incident_keys"
    __table_args__ = (
        Index("ix_incident_keys_lookup", "brand", "key", "seen_at"),
        Index("ix_incident_keys_incident", "incident_id"),  # a storm merge moves them (0018)
    )

    id: int | None = Field(default=None, primary_key=True)
    brand: str = Field(default="", max_length=255)
    key: str = Field(max_length=600)
    incident_id: int = Field(foreign_key="incidents.id")
    mention_id: int = Field(foreign_key="mentions.id")
    seen_at: datetime = Field(sa_type=UTCDateTime)  # the member's post time


class IncidentCentroid(SQLModel, table=True):
    """What an incident's complaints mean, in one encoder's space: the running mean of their
    vectors (float16, like classifications.vector) and how many had each topic. A complaint
    in other words compares itself with the few most recent of these (harken.routing.storms)."""

    __tablename__ = "incident_centroids"
    __table_args__ = (
        UniqueConstraint("incident_id", "model", name="uq_incident_centroid_model"),
        Index("ix_incident_centroids_recent", "brand", "last_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    brand: str = Field(default="", max_length=255)
    model: str = Field(max_length=32)  # the encoder of the vectors averaged
    vector: bytes = Field(sa_type=LargeBinary)
    members: int = 0
    topics: dict[str, int] = Field(default_factory=dict, sa_type=JSONType)
    first_at: datetime = Field(sa_type=UTCDateTime)  # the members' first and last post times
    last_at: datetime = Field(sa_type=UTCDateTime)


class QueueItem(SQLModel, table=True):
    __tablename__ = "queue_items"
    __table_args__ = (
        UniqueConstraint("mention_id", "department", name="uq_queue_mention_department"),
        Index("ix_queue_department_status", "department", "status"),
        Index("ix_queue_incident", "incident_id", "department", "status"),
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
    # Posts of the same incident folded into this item (the first one included).
    mentions: int = 1
    assignee: str | None = Field(default=None, max_length=255)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # first response
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # resolved/dismissed
    closed_by: str | None = Field(default=None, max_length=255)
    note: str | None = Field(default=None, sa_type=Text)  # resolution or dismissal note
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalation_level: int = 0  # 1: past due, re-alerted; 2: past due twice, sent up


class QueueEvent(SQLModel, table=True):
    """Who did what to a queue item, and when: its history."""

    __tablename__ = "queue_events"
    __table_args__ = (
        Index("ix_queue_events_item", "queue_item_id", "id"),
        UniqueConstraint("request_key", name="uq_queue_events_request_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_items.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=255)
    # created, raised, claimed, replied, resolved, dismissed, escalated; and, from
    # harken.queue.actions: assigned, transferred, reopened, noted, tagged, untagged, approved
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, sa_type=Text)
    # The face a person acted through (cli, slack, web, api) and their id there (the Slack
    # user id). None on harken's own events (created, raised, escalated) and on rows older
    # than these columns.
    via: str | None = Field(default=None, max_length=16)
    actor_ref: str | None = Field(default=None, max_length=64)
    # The face's own id of the request that did this (a Slack click, command or form, as
    # Slack sends it again on a retry): unique, so that a request delivered twice, to a
    # restarted process or to another replica, is acted on once. None for everything else.
    request_key: str | None = Field(default=None, max_length=128)


class User(SQLModel, table=True):
    """A person harken knows who is not in the config's ``users:`` (there, the config is the
    record): made on a Slack user's first action from their profile, so that the same Slack
    user is the same harken user next time. Their departments and role still come from the
    config; these columns keep what was decided when they were made."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    slack_id: str | None = Field(default=None, max_length=64, unique=True)
    role: str = Field(default="member", max_length=16)
    departments: list[str] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The web workspace (``harken users``): an argon2 hash, never the password; the SHA-256 of
    # the API token, never the token; failed sign-ins since the last good one, and the lockout.
    password_hash: str | None = Field(default=None, max_length=255)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    token_created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the workspace shows them in: "en" or "ja", and an IANA zone; None: the browser's
    # language and the config's digest.timezone.
    language: str | None = Field(default=None, max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    # Who single sign-on says they are: the ID token's issuer and subject (web.sso).
    sso_subject: str | None = Field(default=None, max_length=512, unique=True)


class SavedView(SQLModel, table=True):
    """An inbox filter someone named ("billing overdue"): the query string of the inbox's
    filters, their own or shared with everyone."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    name: str = Field(max_length=80)
    query: str = Field(max_length=2000)
    shared: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the SHA-256 of its cookie (the cookie itself is never stored), its
    user, the CSRF token its forms carry, and when it ends. Signing in always makes a new row
    (a session id planted before sign-in is worthless); signing out deletes it."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class QueueTag(SQLModel, table=True):
    """A label people put on a queue item (``harken queue tag``): one row per item and tag, so
    that two people tagging one item at once both keep their tags. Who and when: queue_events.
    """

    __tablename__ = "queue_tags"
    __table_args__ = (UniqueConstraint("queue_item_id", "tag", name="uq_queue_tags_item_tag"),)

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_items.id")
    tag: str = Field(max_length=64)


class Ticket(SQLModel, table=True):
    """A queue item handed to a ticket system (``harken queue ticket``, or a rule's
    ``ticket:``): one per item and system. Written when asked for (no ``key`` yet); the
    outbox creates the ticket and records its key; the ticket sync marks it ``done`` (and
    resolves the item) when the system says it is done."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("queue_item_id", "system", name="uq_tickets_item_system"),
        Index("ix_tickets_open", "status", "system"),
    )

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_items.id")
    system: str = Field(max_length=16)  # jira | zendesk
    # What the ticket carries to be found again after an interrupted create (Jira: a label,
    # Zendesk: external_id): the item's id and a random part, unique across databases.
    mark: str = Field(max_length=64)
    key: str | None = Field(default=None, max_length=64)  # "OPS-123", "4711"
    url: str | None = Field(default=None, max_length=2048)
    status: str = Field(default="open", max_length=16)  # open | done
    remote_status: str | None = Field(default=None, max_length=64)  # as the system names it
    requested_by: str = Field(default="harken", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Reply(SQLModel, table=True):
    """A reply posted (or being posted) on the mention's platform from ``harken queue reply``.

    Written as ``sending`` before the platform is called and updated after, so a crash in
    between is visible and a second ``--send`` refuses rather than posting twice.
    """

    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_item", "queue_item_id"),
        # At most one reply in flight per item: two people pressing --send at once cannot
        # both get past the check (the second insert fails).
        Index(
            "uq_replies_in_flight",
            "queue_item_id",
            unique=True,
            sqlite_where=text("status IN ('sending', 'unknown')"),
            postgresql_where=text("status IN ('sending', 'unknown')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    queue_item_id: int = Field(foreign_key="queue_items.id")
    platform: str = Field(max_length=32)
    in_reply_to: str = Field(max_length=512)
    text: str = Field(sa_type=Text)
    actor: str = Field(max_length=255)
    # sending | sent | failed | unknown (may have posted) | superseded (--force sent again)
    status: str = Field(default="sending", max_length=16)
    external_id: str | None = Field(default=None, max_length=512)
    url: str | None = Field(default=None, max_length=2048)
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Spike(SQLModel, table=True):
    """An hour whose volume stood far above what that hour of the week usually brings."""

    __tablename__ = "spikes"
    __table_args__ = (
        UniqueConstraint("brand", "series", "hour_start", name="uq_spike_brand_series_hour"),
        Index("ix_spikes_hour", "hour_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    brand: str = Field(default="", max_length=255)
    series: str = Field(max_length=255)  # "volume", "negative" or "topic:<name>"
    hour_start: datetime = Field(sa_type=UTCDateTime)
    count: int
    baseline: float
    ratio: float
    p_value: float
    top_incidents: list[int] = Field(default_factory=list, sa_type=JSONType)
    terms: list[str] = Field(default_factory=list, sa_type=JSONType)
    detected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """The outbox: an alert is written with what it is about and delivered later, once.

    Lifecycle: pending -> sending (claimed by a sender, ``claimed_by``; the call is in flight,
    or its outcome is in doubt after a crash) -> sent | failed. A pending alert the noise
    budget stops is ``held`` (for the digest; ``note`` says why); one with nothing left to do
    is ``skipped``.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status", "status", "id"),
        Index("ix_alerts_thread", "sink", "incident_id", "channel"),
        Index("ix_alerts_budget", "sink", "channel", "sent_at"),
        Index("ix_alerts_incident", "incident_id"),  # was a storm's fragment alerted? (0018)
    )

    id: int | None = Field(default=None, primary_key=True)
    # What it is about: a queue item (kind "item"; "escalation" when overdue; "update" when a
    # later post joined it: a reply in the incident's thread), a volume spike ("spike") or a
    # daily digest ("digest", payload {"date": ...}).
    kind: str = Field(default="item", max_length=16)
    queue_item_id: int | None = Field(default=None, foreign_key="queue_items.id")
    # The post it shows: the item's own, or for an update the latest post that joined.
    mention_id: int | None = Field(default=None, foreign_key="mentions.id")
    spike_id: int | None = Field(default=None, foreign_key="spikes.id")
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    sink: str = Field(max_length=32)
    channel: str = Field(default="", max_length=255)  # the department it is for
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    note: str | None = Field(default=None, sa_type=Text)  # why held or skipped
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # backoff
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # claimed at
    # Who holds the claim while it is "sending": "pid@host/token", the token of the delivery
    # run's lease (store/lock.py SenderLease); the lease tells whether that run still lives.
    claimed_by: str | None = Field(default=None, max_length=255)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Where it landed: the sink's own channel id and message id (Slack: channel id, ts) and
    # the thread it belongs to (its own ts when it started the thread).
    remote_channel: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=64)


class SinkHold(SQLModel, table=True):
    """A sink asked us to wait (Slack's 429 Retry-After): no request to it before ``until``,
    from any process."""

    __tablename__ = "sink_holds"

    sink: str = Field(primary_key=True, max_length=32)
    until: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(default="", sa_type=Text)


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
    # Items the last poll could not read or store, all of them ever, and the latest reason.
    last_rejected: int = 0
    rejected_total: int = Field(default=0, sa_type=COUNT)
    last_rejection: str | None = Field(default=None, sa_type=Text)
    last_rejection_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The live stream's state, for a source that has one (harken/pipeline/streams.py).
    stream: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class MetricSnapshot(SQLModel, table=True):
    """A mention's engagement at one moment; the series gives its velocity."""

    __tablename__ = "metric_snapshots"
    __table_args__ = (Index("ix_metric_snapshots_mention_taken", "mention_id", "taken_at"),)

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mentions.id")
    taken_at: datetime = Field(sa_type=UTCDateTime)
    likes: int | None = Field(default=None, sa_type=COUNT)
    reposts: int | None = Field(default=None, sa_type=COUNT)
    replies: int | None = Field(default=None, sa_type=COUNT)
    quotes: int | None = Field(default=None, sa_type=COUNT)
    impressions: int | None = Field(default=None, sa_type=COUNT)


class Label(SQLModel, table=True):
    """A person's correction of the classifier for one mention (``harken label``)."""

    __tablename__ = "labels"

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mentions.id", unique=True)
    sentiment: str | None = Field(default=None, max_length=16)
    complaint: bool | None = None
    abuse: bool | None = None
    labelled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoutingLabel(SQLModel, table=True):
    """A person's word on where a mention was routed (``harken.queue.feedback``): written in
    the same transaction as the transfer or dismissal that said it. ``department`` and
    ``rule`` are what harken decided; ``verdict`` is what the person said ("moved" to
    ``to_department``, or the dismiss reason); ``from_department`` is where the item was when
    they said it (another department than harken's once someone has moved it)."""

    __tablename__ = "routing_labels"
    __table_args__ = (
        Index("ix_routing_labels_item", "queue_item_id", "id"),
        Index("ix_routing_labels_mention", "mention_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mentions.id")
    queue_item_id: int = Field(foreign_key="queue_items.id")
    department: str = Field(max_length=64)
    rule: str | None = Field(default=None, max_length=255)
    verdict: str = Field(max_length=32)
    from_department: str = Field(max_length=64)
    to_department: str | None = Field(default=None, max_length=64)
    actor: str = Field(max_length=255)
    via: str | None = Field(default=None, max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
