"""routing labels: transfers and dismissals as feedback on routing

One row per transfer or dismissal made from this revision on (``harken.queue.feedback``):
what harken decided (department, rule), what the person said (moved to another department,
or the dismiss reason), who and when. Corrections made before it left no label.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import harken.store.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("from_department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("to_department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"]),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queue_items.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_routing_labels_item", "routing_labels", ["queue_item_id", "id"])
    op.create_index("ix_routing_labels_mention", "routing_labels", ["mention_id"])


def downgrade() -> None:
    op.drop_index("ix_routing_labels_mention", table_name="routing_labels")
    op.drop_index("ix_routing_labels_item", table_name="routing_labels")
    op.drop_table("routing_labels")
