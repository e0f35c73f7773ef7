"""audit lanes: the chain in 16 lanes, the feed in positions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

The audit chain was one chain whose tip every writer locked until its commit
was on disk, so writers of different records queued on it. It is now 16
lanes, each a chain of its own with its tip in ``audit_head`` (id = lane);
an event sits in exactly one lane, at a position (``lane_seq``), and keeps a
global sequence number. The events written before are lane 1 with their
sequence number as position, so lane 1 goes on where the one chain ended and
lanes 2 to 16 start from the genesis hash.

Outbox ids no longer follow commit order across lanes, so the feed reads in
positions handed out once an event is seen committed (``outbox_position``);
the events written before keep their id as position, so every cursor and
webhook subscription resumes where it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LANES = 16
GENESIS_HASH = "0" * 64


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a rebuilt table would lose its triggers.
    op.add_column("audit_event", sa.Column("lane", sa.SmallInteger(), nullable=True))
    op.add_column("audit_event", sa.Column("lane_seq", _BIG_ID, nullable=True))
    op.create_index("ux_audit_event_lane", "audit_event", ["lane", "lane_seq"], unique=True)
    op.add_column("outbox_event", sa.Column("lane", sa.SmallInteger(), nullable=True))
    op.add_column("outbox_event", sa.Column("lane_seq", _BIG_ID, nullable=True))
    op.create_index("ix_outbox_event_lane", "outbox_event", ["lane", "lane_seq"])
    op.create_table(
        "outbox_position",
        sa.Column("position", _BIG_ID, autoincrement=False, nullable=False),
        sa.Column("outbox_id", _BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox_event.id"],
            name=op.f("fk_outbox_position_outbox_id_outbox_event"),
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox_position")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_outbox_position_outbox_id")),
    )
    op.create_table(
        "outbox_lane",
        sa.Column("lane", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lane_seq", _BIG_ID, nullable=False),
        sa.PrimaryKeyConstraint("lane", name=op.f("pk_outbox_lane")),
    )
    op.execute("INSERT INTO outbox_position (position, outbox_id) SELECT id, id FROM outbox_event")
    bind = op.get_bind()
    bind.execute(
        sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (:lane, 0, :genesis)"),
        [{"lane": lane, "genesis": GENESIS_HASH} for lane in range(2, LANES + 1)],
    )
    bind.execute(
        sa.text("INSERT INTO outbox_lane (lane, lane_seq) VALUES (:lane, 0)"),
        [{"lane": lane} for lane in range(1, LANES + 1)],
    )
    if bind.dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_event_seq")
        op.execute(
            "SELECT setval('audit_event_seq', coalesce(max(seq), 0) + 1, false) FROM audit_event"
        )


def downgrade() -> None:
    bind = op.get_bind()
    query = "SELECT count(*) FROM audit_event WHERE lane IS NOT NULL"
    in_lanes = bind.execute(sa.text(query)).scalar()
    if in_lanes:
        raise RuntimeError(
            f"{in_lanes} audit events were written in lanes: "
            "the single chain of revision 0007 cannot hold them"
        )
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE audit_event_seq")
    op.execute("DELETE FROM audit_head WHERE id > 1")
    for table in ("outbox_lane", "outbox_position"):
        op.drop_table(table)
    for table, index in (
        ("outbox_event", "ix_outbox_event_lane"),
        ("audit_event", "ux_audit_event_lane"),
    ):
        op.drop_index(index, table_name=table)
        for column in ("lane_seq", "lane"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
