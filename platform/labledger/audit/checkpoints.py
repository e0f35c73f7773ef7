"""Checkpoints: the chain's tips written down outside the system.

Whoever can write to the database could, in principle, rewrite the whole
chain and recompute every hash. A checkpoint defeats that: ``labledger audit
checkpoint`` locks every lane of the chain, records an ``audit.checkpoint``
event naming the tip of every other lane, and prints that event's sequence
and hash as one short line, which the operator keeps elsewhere (printed,
mailed, committed to another system). ``audit verify --checkpoint`` then
proves the chain still holds that exact event; since its hash covers every
event before it in its lane and the tips it names, and each tip's hash every
event before it in that lane, the whole history up to the checkpoint is
proved with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection

from labledger.audit.trail import AuditEntry, append, held_tip, lane_of, lock_every_lane
from labledger.errors import FieldError, ValidationFailed

PREFIX = "labledger-checkpoint"
_FORMAT = re.compile(rf"^{PREFIX}:(\d{{1,18}}):([0-9a-f]{{64}})$")
CHECKPOINT_ACTION = "audit.checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str

    @property
    def text(self) -> str:
        return f"{PREFIX}:{self.seq}:{self.hash}"


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from its text; refuses anything else with a readable message."""
    found = _FORMAT.match(text.strip().lower())
    if found is None:
        expected = (
            f"expected {PREFIX}:<sequence>:<64 hexadecimal digits>, "
            "as printed by 'labledger audit checkpoint'"
        )
        raise ValidationFailed(
            f"That is not a checkpoint: {expected}.", [FieldError("checkpoint", expected)]
        )
    return Checkpoint(int(found.group(1)), found.group(2))


def create_checkpoint(conn: Connection, actor: str) -> Checkpoint:
    """Record a checkpoint event and return it: its hash covers the whole chain so far."""
    tips = lock_every_lane(conn)
    own = lane_of(None)
    named = [[tip.lane, tip.position, tip.hash] for tip in tips if tip.lane != own]
    append(conn, [AuditEntry(actor=actor, action=CHECKPOINT_ACTION, details={"lanes": named})])
    return Checkpoint(*held_tip(conn))
