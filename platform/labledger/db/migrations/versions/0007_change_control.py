"""change control: change requests, their items and approvals, the control setting

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Configuration now changes through change requests: proposed definitions
with a title and a reason, approved by electronic signatures bound to their
content hash, activated in one transaction. Approvals are signatures and so
append-only, like ``signature``. Whether change control is on, and how many
approvals a change needs, is a history of rows: each change of the setting
adds one, the newest is in force, and every one has its audit event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import labledger.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = labledger.db.types.UtcDateTime(timezone=True)
_JSON = labledger.db.types.JsonDocument

#: Approvals are signatures: like ``signature``, nothing may change or remove one.
_REFUSED = "change_approval is append-only: {} refused"
_POSTGRES = (
    f"""CREATE FUNCTION change_approval_refuse_change() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '{_REFUSED.format("%")}', TG_OP
        USING ERRCODE = 'insufficient_privilege'; END; $$ LANGUAGE plpgsql""",
    *(
        f"CREATE TRIGGER change_approval_no_{name} BEFORE {events} ON change_approval "
        f"FOR EACH {each} EXECUTE FUNCTION change_approval_refuse_change()"
        for name, events, each in (
            ("update_delete", "UPDATE OR DELETE", "ROW"),
            ("truncate", "TRUNCATE", "STATEMENT"),
        )
    ),
)
_SQLITE = tuple(
    f"CREATE TRIGGER change_approval_no_{operation.lower()} BEFORE {event} ON change_approval "
    f"{condition}BEGIN SELECT RAISE(ABORT, '{_REFUSED.format(operation)}'); END"
    for operation, event, condition in (
        ("UPDATE", "UPDATE", ""),
        ("DELETE", "DELETE", ""),
        # INSERT OR REPLACE over an existing id deletes without the DELETE trigger.
        (
            "REPLACE",
            "INSERT",
            "WHEN EXISTS (SELECT 1 FROM change_approval WHERE id = NEW.id) ",
        ),
    )
)


def _of_request(table: str) -> sa.ForeignKeyConstraint:
    """The row belongs to a change request."""
    return sa.ForeignKeyConstraint(
        ["change_request_id"],
        ["change_request.id"],
        name=op.f(f"fk_{table}_change_request_id_change_request"),
    )


def _stamp(event: str) -> tuple[sa.Column[object], sa.Column[object]]:
    return (
        sa.Column(f"{event}_at", _UTC, nullable=False),
        sa.Column(f"{event}_by", sa.String(length=64), nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "change_request",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("origin", _JSON, nullable=True),
        sa.Column("rejection", sa.Text(), nullable=True),
        sa.Column("activate_at", _UTC, nullable=True),
        sa.Column("activated_at", _UTC, nullable=True),
        sa.Column("activated_by", sa.String(length=64), nullable=True),
        *_stamp("created"),
        *_stamp("updated"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_request")),
    )
    op.create_index("ix_change_request_status", "change_request", ["status", "id"], unique=False)
    op.create_table(
        "change_request_item",
        sa.Column("change_request_id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("base_hash", sa.String(length=64), nullable=True),
        sa.Column("body", _JSON, nullable=False),
        _of_request("change_request_item"),
        sa.PrimaryKeyConstraint(
            "change_request_id", "kind", "key", name=op.f("pk_change_request_item")
        ),
    )
    op.create_table(
        "change_approval",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("change_request_id", _BIG_ID, nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("meaning", sa.String(length=200), nullable=False),
        sa.Column("signed_at", _UTC, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("audit_seq", _BIG_ID, nullable=False),
        _of_request("change_approval"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_approval")),
    )
    op.create_index(
        "ix_change_approval_request",
        "change_approval",
        ["change_request_id", "id"],
        unique=False,
    )
    op.create_table(
        "change_control_setting",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_stamp("changed"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_control_setting")),
    )
    statements = _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER change_approval_no_truncate ON change_approval")
        op.execute("DROP TRIGGER change_approval_no_update_delete ON change_approval")
        op.execute("DROP FUNCTION change_approval_refuse_change()")
    op.drop_table("change_control_setting")
    op.drop_index("ix_change_approval_request", table_name="change_approval")
    op.drop_table("change_approval")
    op.drop_table("change_request_item")
    op.drop_index("ix_change_request_status", table_name="change_request")
    op.drop_table("change_request")
