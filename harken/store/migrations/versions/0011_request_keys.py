"""queue events record the key of the request that made them

A face that may receive one request more than once (Slack sends a click, a slash command or a
form again when its answer was late, and Socket Mode resends an envelope) writes the
request's key with the action's event, in the same transaction. The key is unique: the
second delivery finds it, or fails to write it, and changes nothing. Rows written before this
revision, and actions from faces that have no such key (the CLI), have none.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("request_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )
        batch_op.create_unique_constraint("uq_queue_events_request_key", ["request_key"])


def downgrade() -> None:
    with op.batch_alter_table("queue_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_queue_events_request_key", type_="unique")
        batch_op.drop_column("request_key")
