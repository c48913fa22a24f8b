"""alert delivery: claims, backoff, Slack threads, noise-budget holds, sink holds

Existing alerts keep their status; their incident is copied from their queue item so that
later alerts of the same incident find its thread.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import harken.store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TIME = harken.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sink_holds",
        sa.Column("sink", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("until", UTC_TIME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("sink"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("mention_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "payload",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="{}",
            )
        )
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", UTC_TIME, nullable=True))
        batch_op.add_column(sa.Column("sending_at", UTC_TIME, nullable=True))
        for name in ("remote_channel", "message_ts", "thread_ts"):
            batch_op.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
            )
        batch_op.create_foreign_key("fk_alerts_incident_id", "incidents", ["incident_id"], ["id"])
        batch_op.create_foreign_key("fk_alerts_mention_id", "mentions", ["mention_id"], ["id"])
        batch_op.create_index("ix_alerts_thread", ["sink", "incident_id", "channel"])
        batch_op.create_index("ix_alerts_budget", ["sink", "channel", "sent_at"])
    for column in ("incident_id", "mention_id"):
        op.execute(
            f"UPDATE alerts SET {column} = (SELECT {column} FROM queue_items"
            " WHERE queue_items.id = alerts.queue_item_id) WHERE queue_item_id IS NOT NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_budget")
        batch_op.drop_index("ix_alerts_thread")
        batch_op.drop_constraint("fk_alerts_mention_id", type_="foreignkey")
        batch_op.drop_constraint("fk_alerts_incident_id", type_="foreignkey")
        for name in (
            "thread_ts",
            "message_ts",
            "remote_channel",
            "sending_at",
            "next_attempt_at",
            "note",
            "payload",
            "mention_id",
            "incident_id",
        ):
            batch_op.drop_column(name)
    op.drop_table("sink_holds")
