"""incident centroids: storm grouping by meaning and topic

``incident_centroids`` holds, per incident and encoder, the running mean of its complaints'
meaning vectors (float16) and their topic counts, indexed by brand and last post time, so that
a complaint in other words is compared with a few recent incidents (harken.routing.storms).
Incidents grouped before this revision have none: their later complaints start new ones.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import harken.store.tables

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_centroids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("brand", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column(
            "topics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "model", name="uq_incident_centroid_model"),
    )
    with op.batch_alter_table("incident_centroids", schema=None) as batch_op:
        batch_op.create_index("ix_incident_centroids_recent", ["brand", "last_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_centroids", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_centroids_recent")
    op.drop_table("incident_centroids")
