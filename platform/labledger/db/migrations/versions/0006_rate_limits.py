"""rate limits

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Counters of refused sign-ins, signatures and API tokens per client address
and per account, in fixed time windows. They live in the database so that
every worker process applies the same limit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import labledger.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", labledger.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit")
