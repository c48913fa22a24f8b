"""mentions: an index on (platform, conversation_id, created_at)

The brand's answer in a flat thread (Instagram, YouTube, Facebook) is matched to the post of
the person it names among the thread's posts: one indexed look, not a scan of every mention.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_mentions_conversation", "mentions", ["platform", "conversation_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_mentions_conversation", table_name="mentions")
