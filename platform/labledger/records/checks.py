"""The checks every record write runs: field values under the state's rules, the reason
for change, unique values.

Every write of record data is checked by one of these: a person's create,
update, grid save and import, a preview, and (``as_system``) a workflow
step's actions and a migration, so no writer has rules of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from labledger.db.jsonfields import NUL_MESSAGE
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.types import type_model
from labledger.records.states import StateRules
from labledger.records.validation import DataCheck

#: Largest reason for change accepted (characters).
REASON_MAX = 2000


def expression_context(actor: Principal, row: dict[str, Any] | None) -> dict[str, Any]:
    """The names besides fields that expressions see: the acting user and the record."""
    return {
        "user": {
            "username": actor.username,
            "full_name": actor.full_name,
            "roles": sorted(actor.roles),
        },
        "record": {
            key: row.get(key) for key in ("id", "number", "state", "created_by", "updated_by")
        }
        if row
        else {"id": None, "number": None, "state": None, "created_by": actor.username},
    }


def checked_reason(model: TypeModel, reason: str | None, *, required: bool) -> str | None:
    """The reason for change as stored (trimmed; None when empty), refused when required
    and missing, too long or not storable."""
    reason = (reason or "").strip() or None
    if required and reason is None:
        raise ValidationFailed(
            f"Changes to {model.spec.plural} need a reason.",
            [FieldError("reason", "give the reason for this change")],
        )
    if reason and "\x00" in reason:
        raise ValidationFailed("The reason is not valid.", [FieldError("reason", NUL_MESSAGE)])
    if reason and len(reason) > REASON_MAX:
        raise ValidationFailed(
            "The reason is too long.",
            [FieldError("reason", f"must be at most {REASON_MAX} characters")],
        )
    return reason


def fail_if_errors(errors: list[FieldError], model: TypeModel) -> None:
    """Refuse the write naming every bad field, if there is one."""
    if errors:
        raise ValidationFailed(f"The {model.label} was not saved: check the fields.", errors)


def field_check(
    conn: Connection,
    actor: Principal,
    model: TypeModel,
    row: dict[str, Any] | None,
    *,
    rules: StateRules,
    as_system: bool = False,
    attachments_allowed: bool = True,
    read: dict[int, dict[str, Any] | None] | None = None,
) -> DataCheck:
    """The field checks of a change to ``row`` (None: a new record) under ``rules``.

    Every write of record data is checked by one of these: a person's create,
    update, grid save and import, a preview, and (``as_system``) a workflow
    step's actions and a migration, so no writer has rules of its own.
    """
    return DataCheck(
        conn,
        model,
        None if row is None else row["data"],
        actor=actor.username,
        record_id=None if row is None else row["id"],
        current_checked=row is not None and row.get("type_version") == model.version,
        locked_fields=rules.locked,
        system_set=rules.system_set,
        as_system=as_system,
        attachments_allowed=attachments_allowed,
        read=read,
    )


def checked_data(
    conn: Connection,
    actor: Principal,
    model: TypeModel,
    row: dict[str, Any] | None,
    submitted: Any,
    *,
    rules: StateRules,
    as_system: bool = False,
    attachments_allowed: bool = True,
    read: dict[int, dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The data to store once ``submitted`` is applied to ``row`` (None: a new record):
    merged, normalised and computed; raises ``ValidationFailed`` naming every bad field."""
    check = field_check(
        conn,
        actor,
        model,
        row,
        rules=rules,
        as_system=as_system,
        attachments_allowed=attachments_allowed,
        read=read,
    )
    stored = check.build(submitted, expression_context(actor, row))
    fail_if_errors(check.errors, model)
    return stored


class TypeWrites:
    """Writes to records of one type, by one actor, in one transaction: the type's model,
    with the actor's right to ``permission`` checked once for all of them.

    ``skip_permission``: the caller has checked the right (a workflow action's
    records: the admin who defined the action granted it, whatever the acting
    user's roles). ``attachments_allowed`` False refuses every attachment (see
    ``DataCheck``).
    """

    permission: str

    def __init__(
        self,
        conn: Connection,
        actor: Principal,
        type_key: str,
        *,
        skip_permission: bool = False,
        attachments_allowed: bool = True,
    ) -> None:
        self.conn, self.actor = conn, actor
        self.model = type_model(conn, type_key)
        if not skip_permission and not self.model.allows(actor, self.permission):
            raise Forbidden(f"You may not {self.permission} {self.model.spec.plural}.")
        self.attachments_allowed = attachments_allowed


def unique_violation(model: TypeModel) -> ValidationFailed:
    """The refusal when the database finds a unique value taken by a concurrent writer."""
    keys = [k for k, f in model.field_specs.items() if f.unique]
    return ValidationFailed(
        f"The {model.label} was not saved: a unique value is already used.",
        [FieldError(f"data.{k}", "must be unique") for k in keys],
    )
