"""Switching change control on or off, and how many approvals a change needs: audited.

An installation used for evaluation or development may run without change
control; a validated one may not. The setting is therefore never a file or
an environment variable a person could change unseen: each change is a new
row of ``change_control_setting`` with who, when and why, and an audit event
whose result hash ``audit verify`` checks against the row.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert

from labledger.audit.results import control_setting_result
from labledger.audit.trail import AuditEntry, append
from labledger.change_gate import (
    CONTROL_ACTION,
    ControlSetting,
    control_setting,
    forget_setting,
)
from labledger.db.tables import change_control_setting
from labledger.db.types import utc_now
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import CONFIGURE, Principal

#: More approvers than this is a typing mistake, not a procedure.
MAX_APPROVALS = 5
#: The words every admin page shows while change control is off.
OFF_NOTICE = "Change control is off: not for validated use."


def set_control(
    conn: Connection,
    actor: Principal,
    *,
    enabled: bool,
    reason: str,
    approvals_required: int | None = None,
) -> ControlSetting:
    """Turn change control on or off (and set the approvals a change needs), with a reason."""
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Changing the change-control setting needs the 'configure' permission.")
    current = control_setting(conn)
    approvals = current.approvals_required if approvals_required is None else approvals_required
    errors = []
    if not reason.strip():
        errors.append(FieldError("reason", "say why the setting changes"))
    if not 1 <= approvals <= MAX_APPROVALS:
        errors.append(FieldError("approvals_required", f"must be between 1 and {MAX_APPROVALS}"))
    if errors:
        raise ValidationFailed("The change-control setting was not changed.", errors)
    reason = reason.strip()
    row = {
        "enabled": enabled,
        "approvals_required": approvals,
        "reason": reason,
        "changed_at": utc_now(),
        "changed_by": actor.username,
    }
    setting_id = conn.execute(
        insert(change_control_setting).values(**row).returning(change_control_setting.c.id)
    ).scalar_one()
    append(
        conn,
        [
            AuditEntry(
                actor=actor.username,
                action=CONTROL_ACTION,
                reason=reason,
                changes={
                    "enabled": {"old": current.enabled, "new": enabled},
                    "approvals_required": {"old": current.approvals_required, "new": approvals},
                },
                details={"setting": setting_id},
                result_hash=control_setting_result({"id": setting_id, **row}),
            )
        ],
    )
    forget_setting(conn)
    return control_setting(conn)
