"""routing: incidents by key, queue lifecycle, replies, spikes, stored vectors

Existing rows get defaults: alerts are about queue items, classifications have no topic
scores or vector (near-duplicate grouping skips them), queue items hold one post.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:37:17.392609
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import harken.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spikes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("series", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("hour_start", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column(
            "top_incidents",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "terms",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("detected_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand", "series", "hour_start", name="uq_spike_brand_series_hour"),
    )
    with op.batch_alter_table("spikes", schema=None) as batch_op:
        batch_op.create_index("ix_spikes_hour", ["hour_start"], unique=False)

    op.create_table(
        "incident_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident_keys", schema=None) as batch_op:
        batch_op.create_index("ix_incident_keys_lookup", ["brand", "key", "seen_at"], unique=False)

    op.create_table(
        "queue_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=False),
        sa.Column("at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("to_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["queue_item_id"],
            ["queue_items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("queue_events", schema=None) as batch_op:
        batch_op.create_index("ix_queue_events_item", ["queue_item_id", "id"], unique=False)

    op.create_table(
        "replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("in_reply_to", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", harken.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["queue_item_id"],
            ["queue_items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.create_index("ix_replies_item", ["queue_item_id"], unique=False)
        batch_op.create_index(
            "uq_replies_in_flight",
            ["queue_item_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('sending', 'unknown')"),
            postgresql_where=sa.text("status IN ('sending', 'unknown')"),
        )

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="item",
            )
        )
        batch_op.add_column(sa.Column("spike_id", sa.Integer(), nullable=True))
        batch_op.alter_column("queue_item_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_foreign_key("fk_alerts_spike_id", "spikes", ["spike_id"], ["id"])

    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "topic_scores",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="{}",
            )
        )
        batch_op.add_column(sa.Column("vector", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("vector_model", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("top_risk", sa.Float(), nullable=False, server_default="0"))

    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("incident_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "routing",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.create_index("ix_mentions_author", ["author_id", "created_at"], unique=False)
        batch_op.create_index("ix_mentions_incident", ["incident_id", "created_at"], unique=False)

    with op.batch_alter_table("queue_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mentions", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("assignee", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("claimed_at", harken.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("responded_at", harken.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("closed_at", harken.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("escalated_at", harken.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            "ix_queue_incident", ["incident_id", "department", "status"], unique=False
        )

    _backfill()


def _backfill() -> None:
    """What routing before 0004 stored, in the shape routing now reads: each mention's
    incident (from its queue items), incident keys with the ``post:`` prefix and their rows
    in incident_keys (so later retweets find them), and each incident's top risk."""
    op.execute(
        "UPDATE mentions SET incident_id = (SELECT MIN(q.incident_id) FROM queue_items q"
        " WHERE q.mention_id = mentions.id) WHERE incident_id IS NULL"
    )
    op.execute("UPDATE incidents SET key = 'post:' || key WHERE key NOT LIKE 'post:%'")
    op.execute(
        "INSERT INTO incident_keys (brand, key, incident_id, mention_id, seen_at)"
        " SELECT brand, key, id, top_mention_id, first_seen FROM incidents"
        " WHERE top_mention_id IS NOT NULL"
    )
    op.execute(
        "UPDATE incidents SET top_risk = COALESCE((SELECT c.risk FROM classifications c"
        " WHERE c.mention_id = incidents.top_mention_id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("queue_items", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_incident")
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("escalated_at")
        batch_op.drop_column("note")
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("responded_at")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("assignee")
        batch_op.drop_column("mentions")

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("top_risk")

    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentions_incident")
        batch_op.drop_index("ix_mentions_author")
        batch_op.drop_column("routing")
        batch_op.drop_column("incident_reason")
        batch_op.drop_column("incident_id")

    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.drop_column("vector_model")
        batch_op.drop_column("vector")
        batch_op.drop_column("topic_scores")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_alerts_spike_id", type_="foreignkey")
        batch_op.alter_column("queue_item_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("spike_id")
        batch_op.drop_column("kind")

    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("uq_replies_in_flight")
        batch_op.drop_index("ix_replies_item")

    op.drop_table("replies")
    with op.batch_alter_table("queue_events", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_events_item")

    op.drop_table("queue_events")
    with op.batch_alter_table("incident_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_keys_lookup")

    op.drop_table("incident_keys")
    with op.batch_alter_table("spikes", schema=None) as batch_op:
        batch_op.drop_index("ix_spikes_hour")

    op.drop_table("spikes")
