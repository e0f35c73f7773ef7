"""browser sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Server-side browser sessions (any number of workers share them) and the
instance settings table that holds secrets every worker must agree on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import labledger.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_instance_setting")),
    )
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", labledger.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", labledger.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("signed_in_session", sa.Boolean(), nullable=False),
        sa.Column("ended_at", labledger.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_web_session_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_session")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_table("instance_setting")
