"""What a posted record form means: what it edits, its typed values and their checks.

The form's inputs are parsed into typed data (``web.forms``) and checked by
the record service's own rules (``records.preview``), writing nothing; a
field the person could not see is never handed on to be saved. A record's
page links to the new-record forms of its children (``child_forms``), with
the reference to it filled in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection

from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.types import readable_model, type_model
from labledger.records.lookup import record_id_by_number
from labledger.records.preview import Preview, preview_record
from labledger.records.related import may_read, referencing_types
from labledger.records.search import records_starting_with
from labledger.records.service import StateRules, get_record, state_rules
from labledger.web.forms import changed_only, input_keys, parse_form, values_of


@dataclass
class Target:
    """What a form edits: a new record of a type, or one record at one version."""

    model: TypeModel
    row: dict[str, Any] | None = None

    @property
    def creating(self) -> bool:
        return self.row is None

    def rules(self, conn: Connection) -> StateRules:
        return state_rules(conn, self.model, None if self.row is None else self.row["state"])

    def editable(self, conn: Connection) -> list[str]:
        """The fields the form has inputs for: never a field only the system sets
        (a new record: every other field a person types)."""
        rules = self.rules(conn)
        keys = [k for k in input_keys(self.model) if k not in rules.system_set]
        if self.row is None:
            return keys
        return [
            k for k in keys if k not in rules.locked and not self.model.field_specs[k].read_only
        ]

    def system_set_given(self, conn: Connection, form: dict[str, Any]) -> list[str]:
        """System-set fields the posted form gives a value anyway (no input offers
        them): they are handed to the service, which refuses them by name."""
        return [k for k in sorted(self.rules(conn).system_set) if any(values_of(form, k))]

    def base(self) -> str:
        key = self.model.key
        return f"/records/{key}/new" if self.row is None else f"/records/{key}/{self.row['id']}"


def form_target(conn: Connection, actor: Principal, type_key: str, record_id: int | None) -> Target:
    """What the form edits, refused unless the actor may create (or edit) such records."""
    model = readable_model(conn, actor, type_key)
    action = "create" if record_id is None else "edit"
    if not model.allows(actor, action):
        raise Forbidden(f"You may not {action} {model.spec.plural}.")
    if record_id is None:
        return Target(model)
    return Target(model, get_record(conn, actor, type_key, record_id))


@dataclass(frozen=True)
class ChildForm:
    """A "New ..." button on a record's page: a child type's new-record form with
    its reference to the record filled in."""

    label: str
    url: str


def child_forms(
    conn: Connection, actor: Principal, type_key: str, record_id: int
) -> list[ChildForm]:
    """The new-record forms a record's page offers, one per reference field to its type.

    Only where the person may create such records and the form has an input
    for the reference: not one the system sets, nor a list of references
    (a form names one record per input). A type that refers to this one by
    several fields gets one button per field, each saying which.
    """
    offered = []
    for child in referencing_types(conn, actor, type_key):
        target = Target(readable_model(conn, actor, child["type"]))
        spec = target.model.field_specs[child["field"]]
        if (
            target.model.allows(actor, "create")
            and isinstance(spec, ReferenceField)
            and not spec.multiple
            and spec.key in target.editable(conn)
        ):
            offered.append((target.model, spec))
    fields_per_type = Counter(model.key for model, _ in offered)
    return [
        ChildForm(
            label=f"New {model.label}"
            + (f" ({spec.label})" if fields_per_type[model.key] > 1 else ""),
            url=f"{Target(model).base()}?{urlencode({spec.key: record_id})}",
        )
        for model, spec in offered
    ]


@dataclass
class Checked:
    """A posted form, parsed and previewed."""

    preview: Preview
    #: Inputs that are not even a number (the service never sees them).
    parse_errors: list[FieldError]
    #: Replaces the preview's errors with those of a refused save.
    refused: list[FieldError] | None = None

    @property
    def errors(self) -> list[FieldError]:
        found = self.preview.errors if self.refused is None else self.refused
        unread = {e.field for e in self.parse_errors}
        return self.parse_errors + [e for e in found if e.field not in unread]


def _parsed(
    target: Target, form: dict[str, Any], keys: list[str]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed values of the posted fields that were read: a new record's filled-in
    values, or an edit's real changes."""
    data, unread = parse_form(target.model, form, keys)
    bad = {e.field for e in unread}
    if target.row is not None:
        data = changed_only(target.model, target.row["data"], data)
    else:
        data = {k: v for k, v in data.items() if v is not None}
    return {k: v for k, v in data.items() if f"data.{k}" not in bad}, unread


def _visible_only(
    conn: Connection, actor: Principal, target: Target, data: dict[str, Any]
) -> tuple[dict[str, Any], Preview]:
    """``data`` without the fields its values hide (``visible_if``), and its preview.

    A field the person could not see is never saved.
    """
    record_id = target.row["id"] if target.row else None
    preview = preview_record(conn, actor, target.model.key, data, record_id=record_id)
    if all(k in preview.visible for k in data):
        return data, preview
    data = {k: v for k, v in data.items() if k in preview.visible}
    return data, preview_record(conn, actor, target.model.key, data, record_id=record_id)


def check_form(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    keys: list[str] | None = None,
) -> Checked:
    """Parse the posted fields (``keys``, by default every editable one) and run the
    service's checks on them, writing nothing: what a form shows."""
    data, unread = _parsed(target, form, target.editable(conn) if keys is None else keys)
    _, preview = _visible_only(conn, actor, target, named_references(conn, actor, target, data))
    return Checked(preview, unread)


def named_references(
    conn: Connection, actor: Principal, target: Target, data: dict[str, Any]
) -> dict[str, Any]:
    """``data`` with each reference typed as the start of a record's number or title
    (``PH-01`` for the instrument ``INS-0001 · PH-01 pH meter``) replaced by that
    record's number, when exactly one record the person may read starts so.

    So a reference is entered by keyboard alone, without choosing a suggestion;
    text that names no record, or several, is left for the service to refuse.
    """
    found = dict(data)
    for key, value in data.items():
        spec = target.model.field_specs[key]
        if not (isinstance(spec, ReferenceField) and isinstance(value, str) and value.strip()):
            continue
        if record_id_by_number(conn, value) is not None or not may_read(conn, actor, spec.to):
            continue
        candidates = records_starting_with(conn, type_model(conn, spec.to), value, limit=2)
        if len(candidates) == 1:
            found[key] = candidates[0]["number"]
    return found


def data_to_save(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    keys: list[str] | None = None,
) -> dict[str, Any]:
    """The typed data of a posted form, for the record service to check and store.

    Text that is no number is refused here, with every other message of the
    form at once. The preview runs only where fields may be hidden: the
    service checks everything else itself.
    """
    keys = (target.editable(conn) if keys is None else keys) + target.system_set_given(conn, form)
    data, unread = _parsed(target, form, keys)
    if unread:
        raise ValidationFailed(
            "Some values could not be read.",
            check_form(conn, actor, target, form, keys).errors,
        )
    data = named_references(conn, actor, target, data)
    if any(f.visible_if for f in target.model.field_specs.values()):
        data, _ = _visible_only(conn, actor, target, data)
    return data
