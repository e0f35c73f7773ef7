"""prefix search and work queues: indexes for finding a record by the start of its
number or title, and for a state's records oldest first

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A reference box (in a form or a grid) asks for records of one type whose
number or title starts with what the person typed, in any case. Each
lookup reads an index range and stops after the first matches, whatever the
number of records. On PostgreSQL the lowered text is compared in the "C"
collation, the only one in which every string with a prefix sorts together.

A work queue lists the records of one state oldest first: the index on
(type_key, state) grows created_at and id, so a page of the 10,000 records
waiting in one state is read in order instead of filtered out of all of the
type's records.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = {"ix_record_number_prefix": "number", "ix_record_title_prefix": "title"}


def upgrade() -> None:
    collation = ' COLLATE "C"' if op.get_bind().dialect.name == "postgresql" else ""
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON record (type_key, (lower({column}){collation}))")
    op.create_index(
        "ix_record_type_state_created", "record", ["type_key", "state", "created_at", "id"]
    )
    op.drop_index("ix_record_type_state", table_name="record")


def downgrade() -> None:
    op.create_index("ix_record_type_state", "record", ["type_key", "state"])
    op.drop_index("ix_record_type_state_created", table_name="record")
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
