"""web workspace: passwords, API tokens, lockout and SSO on users; saved views; sessions

``users`` gains an argon2 password hash, the SHA-256 of an API token, a count of failed
sign-ins, a lockout time, the language and time zone the workspace shows them, and who
single sign-on says they are (``harken users``, ``web.sso``); ``saved_views`` keeps the
inbox filters people named; ``web_sessions`` keeps the SHA-256 of each signed-in browser's
cookie, its CSRF token and its expiry (``harken web``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import harken.store.tables

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "token_created_at", harken.store.tables.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("locked_until", harken.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch_op.add_column(
            sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("sso_subject", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True)
        )
        batch_op.create_unique_constraint("uq_users_token_hash", ["token_hash"])
        batch_op.create_unique_constraint("uq_users_sso_subject", ["sso_subject"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_web_sessions_user", ["user_id"], unique=False)
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("query", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", harken.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_views")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_web_sessions_user")
    op.drop_table("web_sessions")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_sso_subject", type_="unique")
        batch_op.drop_constraint("uq_users_token_hash", type_="unique")
        batch_op.drop_column("sso_subject")
        batch_op.drop_column("timezone")
        batch_op.drop_column("language")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("token_created_at")
        batch_op.drop_column("token_hash")
        batch_op.drop_column("password_hash")
