"""source_health.stream: how a source's live stream is doing

JSON, null for a source without a stream: connected or not and since when, the newest event's
time and when it was read (the lag), reconnections, and the last error.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "source_health",
        sa.Column(
            "stream",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("source_health") as batch:
        batch.drop_column("stream")
