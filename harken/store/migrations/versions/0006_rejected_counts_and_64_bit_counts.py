"""source health: rejected items; engagement and follower counts 64-bit on PostgreSQL

A post can be seen more than 2**31 times and an account can have more followers than a
32-bit INTEGER holds; PostgreSQL's INTEGER is 32-bit, so those columns become BIGINT there.
SQLite's INTEGER already holds 64 bits: nothing to change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import harken.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_TIME = harken.store.tables.UTCDateTime(timezone=True)

COUNT_COLUMNS = {
    "authors": ("followers",),
    "mentions": ("likes", "reposts", "replies", "quotes"),
    "metric_snapshots": ("likes", "reposts", "replies", "quotes", "impressions"),
}


def upgrade() -> None:
    with op.batch_alter_table("source_health", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_rejected", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "rejected_total", harken.store.tables.COUNT, nullable=False, server_default="0"
            )
        )
        batch_op.add_column(sa.Column("last_rejection", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_rejection_at", UTC_TIME, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in COUNT_COLUMNS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in COUNT_COLUMNS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
    with op.batch_alter_table("source_health", schema=None) as batch_op:
        for name in ("last_rejection_at", "last_rejection", "rejected_total", "last_rejected"):
            batch_op.drop_column(name)
