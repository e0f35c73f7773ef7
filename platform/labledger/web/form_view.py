"""Drawing a record form: each field's input or shown value, why a field is locked, the
form's first values (checked when they come from a link) and the template context.
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import UNSET
from sqlalchemy import Connection

from labledger.identity.principal import Principal
from labledger.identity.users import list_users
from labledger.limits import INT64_MAX
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import AttachmentField, FieldSpec, ReferenceField
from labledger.records.lookup import record_id_by_number
from labledger.records.preview import Preview
from labledger.records.related import attachment_summaries, record_summaries
from labledger.web.display import Formatter, ids_of, sections
from labledger.web.forms import (
    TIME_ZONES,
    TZ_SUFFIX,
    FormField,
    error_map,
    first,
    form_text,
    input_keys,
    step_of,
    stored_as_form,
    values_of,
)
from labledger.web.record_form import Checked, Target
from labledger.web.records import state_labels

#: A prefilled reference that is an id (at most 19 digits: no id is longer).
_ROW_ID = re.compile(r"^[0-9]{1,19}$")


def _field_list(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    preview: Preview,
    errors: dict[str, str],
    now: dict[str, Any] | None = None,
) -> list[FormField]:
    """One entry per field: its input (with the typed value and message) or its shown value."""
    model = target.model
    editable = set(target.editable(conn))
    system_set = target.rules(conn).system_set
    stored = target.row["data"] if target.row else {}
    states = state_labels(conn, model)
    attachment_ids = {
        int(v)
        for k, f in model.field_specs.items()
        if f.kind == "attachment"
        for v in values_of(form, k)
        if v.isdigit()
    }
    fmt = Formatter(
        record_summaries(conn, actor, ids_of(model, [stored], "reference")),
        attachment_summaries(conn, attachment_ids | ids_of(model, [stored], "attachment")),
        None,
    )
    fields = []
    for key, fdef in model.field_specs.items():
        item = FormField(
            key=key,
            fdef=fdef,
            raw=values_of(form, key) if fdef.kind == "multi_choice" else first(form, key),
            zone=first(form, key + TZ_SUFFIX) or "Z",
            error=errors.get(key),
            visible=key in preview.visible,
            required=key in preview.required,
        )
        if fdef.kind == "computed":
            item.locked = "computed"
            item.shown = fmt.value(fdef, preview.data.get(key))
        elif key not in editable:
            item.locked = _why_locked(target, key, system_set, states)
            item.shown = fmt.value(fdef, stored.get(key))
        elif fdef.kind == "attachment":
            chosen = first(form, key)
            item.shown = fmt.value(fdef, int(chosen)) if chosen.isdigit() else None
        if now and key in now:
            item.now = fmt.value(fdef, now[key])
        fields.append(item)
    return fields


def _why_locked(
    target: Target, key: str, system_set: frozenset[str], states: dict[str, str]
) -> str:
    """Why the form shows a field's value instead of an input."""
    if key in system_set:
        return "set by the system (a workflow step)"
    if target.model.field_specs[key].read_only:
        return "read-only once the record is created"
    state = target.row["state"] if target.row else None
    return f"locked in state {states.get(state or '', state)}"


def form_context(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    checked: Checked,
    *,
    show_errors: bool,
    message: str | None = None,
    now: dict[str, Any] | None = None,
    with_users: bool = True,
) -> dict[str, Any]:
    """What ``records/form.html`` (and the validation fragment) draws the form from."""
    per_field, other = error_map(checked.errors)
    if not show_errors:
        per_field, other = {}, []
    fields = _field_list(conn, actor, target, form, checked.preview, per_field, now)
    by_key = {f.key: f for f in fields}
    hidden_errors = [
        f"{f.fdef.label}: {f.error}" for f in fields if f.error and (not f.visible or f.locked)
    ]
    users = active_users(conn) if with_users and _has(target.model, "user") else []
    model = target.model
    return {
        "model": model,
        "type_key": model.key,
        "target": target,
        "rec": target.row,
        "groups": [
            (label, [by_key[k] for k in keys]) for label, keys in sections(model, model.field_specs)
        ],
        "fields": fields,
        "form_errors": other + hidden_errors,
        "reason_error": per_field.get("__reason"),
        "reason": first(form, "reason"),
        "version": first(form, "version") or (target.row["version"] if target.row else ""),
        "message": message,
        "users": users,
        "zones": TIME_ZONES,
        "step_of": step_of,
        "action": target.base() if target.creating else f"{target.base()}/edit",
        "validate_url": f"/records/{model.key}/validate"
        if target.creating
        else f"{target.base()}/validate",
    }


def active_users(conn: Connection) -> list[dict[str, Any]]:
    """The people a user field may name."""
    return [u for u in list_users(conn) if u["active"]]


def _has(model: TypeModel, field_type: str) -> bool:
    return any(f.kind == field_type for f in model.field_specs.values())


def initial_form(
    conn: Connection, actor: Principal, target: Target, prefill: dict[str, str]
) -> dict[str, Any]:
    """The inputs' first values: the record as stored, or defaults and prefilled values."""
    model = target.model
    if target.row is not None:
        data = target.row["data"]
        numbers = record_summaries(conn, actor, ids_of(model, [data], "reference"))
        return stored_as_form(model, data, {i: s["number"] for i, s in numbers.items()})
    accepted = _accepted_prefill(conn, actor, target, prefill)
    form: dict[str, Any] = {}
    for key in input_keys(model):
        fdef = model.field_specs[key]
        default = _default_of(fdef)
        if key in accepted:
            form[key] = accepted[key]
        elif default is not None:
            form[key] = form_text(fdef, default, {})
    return form


def _accepted_prefill(
    conn: Connection, actor: Principal, target: Target, prefill: dict[str, str]
) -> dict[str, str]:
    """The prefilled values (from a link's query string) a new form may start with.

    A link can be crafted, so only fields the person types in are taken, never
    a file (files are uploaded, and a prefilled one would show another's file
    name), and a reference only when it names, by id or number, a record of
    the field's type the person may read; its input shows the number. Anything
    else is left out: the form starts empty there, as without the link.
    """
    editable = set(target.editable(conn))
    accepted = {}
    for key, text in prefill.items():
        fdef = target.model.field_specs.get(key)
        if key not in editable or isinstance(fdef, AttachmentField):
            continue
        if isinstance(fdef, ReferenceField):
            number = _readable_number(conn, actor, fdef.to, text.strip())
            if number is not None:
                accepted[key] = number
        else:
            accepted[key] = text
    return accepted


def _readable_number(conn: Connection, actor: Principal, type_key: str, text: str) -> str | None:
    """The number of the ``type_key`` record ``text`` names by id or by number, if the
    person may read it."""
    record_id = int(text) if _ROW_ID.match(text) else record_id_by_number(conn, text)
    if record_id is None or record_id > INT64_MAX:
        return None
    found = record_summaries(conn, actor, [record_id]).get(record_id)
    return found["number"] if found and found["type"] == type_key else None


def _default_of(fdef: FieldSpec) -> Any:
    """The field's default value, None where it has none (an attachment never has one)."""
    default = getattr(fdef, "default", None)
    return None if default is UNSET else default
