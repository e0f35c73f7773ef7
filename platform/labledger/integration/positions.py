"""The feed's order: a position for each outbox event, handed out once it has committed.

An outbox event is written in its change's transaction, in the lane of that
transaction's audit events (see ``audit.trail``). Within a lane, events
commit in the order of their positions there, because a writer holds its
lane until its commit; across lanes they commit in any order, so outbox ids
do not say what has committed. ``assign_positions`` gives every event newly
seen committed the next feed position, in the trail's order, and remembers
per lane how far it got (``outbox_lane``). The feed and webhook deliveries
read by position: once position N is visible every smaller one is, and no
event gets a smaller one later, so a cursor walk never skips an event.
Assigners take turns on the ``outbox_lane`` rows; events written before
lanes kept their id as position.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from labledger.db.engine import Database
from labledger.db.tables import outbox_event, outbox_lane, outbox_position

#: Positions handed out at most per call: a page of the feed needs far fewer, and a
#: 100,000-row import's events get theirs over a few calls instead of in one.
ASSIGN_BATCH = 10000

_LAST_POSITION = select(func.coalesce(func.max(outbox_position.c.position), 0))
_MARK = (
    update(outbox_lane)
    .where(outbox_lane.c.lane == bindparam("at_lane"))
    .values(lane_seq=bindparam("new_lane_seq"))
)


def assign_positions(db: Database) -> int:
    """Give committed outbox events their feed positions; returns how many got one."""
    with db.write() as conn:
        return assign(conn)


def assign(conn: Connection) -> int:
    """``assign_positions`` inside the caller's transaction (which then holds the turn)."""
    taken = conn.execute(select(outbox_lane.c.lane, outbox_lane.c.lane_seq).with_for_update())
    marks = {lane: lane_seq for lane, lane_seq in taken}
    if not marks:
        return 0
    # Per lane, the committed events after its mark are the lane's next ones, in order.
    after_marks = or_(
        *(
            and_(outbox_event.c.lane == lane, outbox_event.c.lane_seq > mark)
            for lane, mark in marks.items()
        )
    )
    found = conn.execute(
        select(outbox_event.c.id, outbox_event.c.lane, outbox_event.c.lane_seq)
        .where(after_marks)
        .order_by(outbox_event.c.audit_seq)
        .limit(ASSIGN_BATCH)
    ).all()
    if not found:
        return 0
    last = conn.execute(_LAST_POSITION).scalar_one()
    conn.execute(
        insert(outbox_position),
        [{"position": last + i, "outbox_id": row.id} for i, row in enumerate(found, start=1)],
    )
    reached = {row.lane: row.lane_seq for row in found}  # in lane order: the last is the furthest
    conn.execute(_MARK, [{"at_lane": lane, "new_lane_seq": seq} for lane, seq in reached.items()])
    return len(found)
