"""The one check every configuration write passes: is it part of an approved change?

With change control on (Annex 11 §10, 21 CFR 11.10(k)), a definition may
only be stored while an approved change request is being activated, or in a
rehearsal that is rolled back (a dry run, the check before an approval).
Every service that writes configuration -- ``metadata.versions.store`` for
versioned definitions, the role service for roles -- asks ``require_change``
first, so no front end, command or future endpoint can publish around the
procedure.

Whether control is on is the newest row of ``change_control_setting`` (the
service in ``labledger.changes.control`` writes and audits it). A database
that has none yet -- one just migrated from a release before change control
-- is controlled: the safe default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, select

from labledger.db.engine import numbers_kept_inside
from labledger.db.tables import change_control_setting
from labledger.db.txcache import transaction_cache
from labledger.errors import Conflict

#: Every audit action of change control starts so; ``audit verify`` follows them.
CHANGE_ACTION_PREFIX = "change."
#: The audit action of an approver's signature of a change request.
APPROVE_ACTION = "change.approve"
#: The audit action of a change of the change-control setting.
CONTROL_ACTION = "change.control"
#: How many approvals a change request needs when no setting says otherwise.
DEFAULT_APPROVALS = 1
#: ``conn.info`` key: the change being activated, or a rehearsal, on this connection.
_PASSAGE = "labledger.change_passage"
_SECTION = "change_control"


@dataclass(frozen=True)
class ControlSetting:
    """Whether change control is on and how many approvals a change needs."""

    enabled: bool
    approvals_required: int


class ChangeControlled(Conflict, title="Change control"):
    """A configuration write outside an approved change request, with change control on."""


def control_setting(conn: Connection) -> ControlSetting:
    """The setting in force (read once per transaction)."""
    remembered = transaction_cache(conn, _SECTION)
    if "setting" not in remembered:
        row = conn.execute(
            select(change_control_setting.c.enabled, change_control_setting.c.approvals_required)
            .order_by(change_control_setting.c.id.desc())
            .limit(1)
        ).first()
        remembered["setting"] = (
            ControlSetting(True, DEFAULT_APPROVALS)
            if row is None
            else ControlSetting(bool(row.enabled), int(row.approvals_required))
        )
    setting: ControlSetting = remembered["setting"]
    return setting


def forget_setting(conn: Connection) -> None:
    """For the service that writes the setting: the next read sees the new row."""
    transaction_cache(conn, _SECTION).pop("setting", None)


@contextmanager
def passage(conn: Connection, change_request: int | None) -> Iterator[None]:
    """Let configuration writes through on ``conn`` while the block runs.

    ``change_request`` is the number of the approved change being activated;
    None marks a rehearsal, which the caller must roll back.
    """
    previous = conn.info.get(_PASSAGE)
    conn.info[_PASSAGE] = ("activation", change_request)
    try:
        yield
    finally:
        if previous is None:
            conn.info.pop(_PASSAGE, None)
        else:
            conn.info[_PASSAGE] = previous


@contextmanager
def rehearsed(conn: Connection) -> Iterator[None]:
    """Let configuration writes through in a savepoint that is always rolled back: a
    rehearsal, to learn whether they would succeed and what they would do."""
    savepoint = conn.begin_nested()
    try:
        with passage(conn, None), numbers_kept_inside(conn):
            yield
    finally:
        savepoint.rollback()


def activating(conn: Connection) -> int | None:
    """The change request whose activation is writing on ``conn`` now, if any."""
    found = conn.info.get(_PASSAGE)
    return None if found is None else found[1]


def require_change(conn: Connection, what: str) -> None:
    """Refuse writing ``what`` (e.g. "object type 'sample'") outside an approved change.

    Passes when change control is off, during the activation of an approved
    change request, and in a rehearsal.
    """
    if conn.info.get(_PASSAGE) is not None or not control_setting(conn).enabled:
        return
    raise ChangeControlled(
        f"Change control is on: {what} can only change through a change request, "
        "approved by the electronic signature of someone other than its author.",
        extra={"change_requests": "/api/v1/change-requests"},
    )
