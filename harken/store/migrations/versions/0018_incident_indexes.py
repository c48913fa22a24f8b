"""incident_keys and alerts: an index on incident_id

Merging a storm's fragments (harken.routing.storm_merge) moves an incident's key rows and asks
whether it was alerted: one indexed look each, not a scan of the largest table under the
route lock.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incident_keys_incident", "incident_keys", ["incident_id"])
    op.create_index("ix_alerts_incident", "alerts", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_incident", table_name="alerts")
    op.drop_index("ix_incident_keys_incident", table_name="incident_keys")
