"""API tokens remember when they were last used

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

An access review lists every API token with its last use, so a token that
nobody uses any more can be revoked. The column is written at most once per
few minutes per token (``identity.tokens.LAST_USE_MINUTES``), not on every
request. Tokens used before this upgrade show no last use until their next.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labledger.db.types import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_token", sa.Column("last_used_at", UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("api_token", "last_used_at")
