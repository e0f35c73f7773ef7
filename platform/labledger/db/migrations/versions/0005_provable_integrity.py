"""provable integrity: versioned event hashes, result hashes, append-only signatures

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Each audit event now names the canonical form that hashed it (``hash_version``;
empty for events written before, which keep verifying with the old form) and
carries the hash of what it produced (``result_hash``): a record's row, a
signature's manifest, a configuration version's body, a role. Signatures
become append-only like the audit trail. On SQLite, ``INSERT OR REPLACE``
replaced an event without firing the DELETE trigger; an insert over an
existing key is now refused before the conflict resolution can run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_POSTGRES = (
    """
    CREATE FUNCTION signature_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'signature is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER signature_no_update_delete BEFORE UPDATE OR DELETE ON signature
    FOR EACH ROW EXECUTE FUNCTION signature_refuse_change()
    """,
    """
    CREATE TRIGGER signature_no_truncate BEFORE TRUNCATE ON signature
    FOR EACH STATEMENT EXECUTE FUNCTION signature_refuse_change()
    """,
)

_SQLITE = (
    """
    CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
    WHEN EXISTS (SELECT 1 FROM audit_event WHERE seq = NEW.seq)
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: REPLACE refused'); END
    """,
    """
    CREATE TRIGGER signature_no_update BEFORE UPDATE ON signature
    BEGIN SELECT RAISE(ABORT, 'signature is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER signature_no_delete BEFORE DELETE ON signature
    BEGIN SELECT RAISE(ABORT, 'signature is append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER signature_no_replace BEFORE INSERT ON signature
    WHEN EXISTS (SELECT 1 FROM signature WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'signature is append-only: REPLACE refused'); END
    """,
)

_DROP_POSTGRES = (
    "DROP TRIGGER signature_no_truncate ON signature",
    "DROP TRIGGER signature_no_update_delete ON signature",
    "DROP FUNCTION signature_refuse_change()",
)
_DROP_SQLITE = (
    "DROP TRIGGER signature_no_replace",
    "DROP TRIGGER signature_no_delete",
    "DROP TRIGGER signature_no_update",
    "DROP TRIGGER audit_event_no_replace",
)


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a rebuilt table would lose its triggers.
    op.add_column("audit_event", sa.Column("hash_version", sa.Integer(), nullable=True))
    op.add_column("audit_event", sa.Column("result_hash", sa.String(length=64), nullable=True))
    statements = _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _DROP_POSTGRES if dialect == "postgresql" else _DROP_SQLITE:
        op.execute(statement)
    for column in ("result_hash", "hash_version"):
        op.execute(f"ALTER TABLE audit_event DROP COLUMN {column}")
