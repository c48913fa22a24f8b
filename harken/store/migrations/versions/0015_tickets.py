"""tickets: queue items handed to Jira or Zendesk

One row per item and ticket system (``harken queue ticket``, or a rule's ``ticket:``), with
the ticket's key once it is created and whether the system has it done.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from harken.store.tables import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_item_id", sa.Integer(), nullable=False),
        sa.Column("system", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("mark", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("remote_status", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("synced_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["queue_item_id"], ["queue_items.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_item_id", "system", name="uq_tickets_item_system"),
    )
    op.create_index("ix_tickets_open", "tickets", ["status", "system"])


def downgrade() -> None:
    op.drop_index("ix_tickets_open", table_name="tickets")
    op.drop_table("tickets")
