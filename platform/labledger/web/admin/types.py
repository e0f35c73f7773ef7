"""The object type designer: a definition edited in the page, published by the type service.

The definition being edited (the draft) travels with the page as a hidden
JSON input. Each request rebuilds it from that JSON plus the inputs on
screen (the type's settings, its sections and the one field open in the
editor), applies the button pressed (add, move, remove a field...), and
renders the designer again. Nothing is stored until the admin publishes, and
publishing is ``metadata.types.publish_type``: the same checks, versioning
and audit as ``PUT /api/v1/types/{key}``. With change control on, the button
saves the draft into a change request instead (``web.admin.designer``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from litestar import get
from litestar.response import Template
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.errors import ValidationFailed
from labledger.identity.roles import list_roles
from labledger.identity.sessions import WebSession
from labledger.metadata import versions
from labledger.metadata.diff import diff_definitions
from labledger.metadata.fieldtypes import FIELD_TYPES
from labledger.metadata.types import (
    KIND,
    definition_context,
    list_types,
    publish_type,
    type_model,
)
from labledger.metadata.validation import SCALAR_TYPES, validate_type_definition
from labledger.records.states import WORKFLOW_KIND
from labledger.web.admin.common import (
    Form,
    Problems,
    parse_list,
    parse_number,
    put,
)
from labledger.web.admin.designer import (
    Designer,
    DesignerController,
    draft_views,
    key_for,
    list_op,
    open_item,
    version_history,
)
from labledger.web.pages import page
from labledger.workflows.definitions import check_type_workflow

ACTIONS = ("read", "create", "edit")
WHAT = "Designing object types"


@dataclass(frozen=True)
class Option:
    """One option of a field as the editor shows it: its input and a hint."""

    name: str
    label: str
    widget: str
    hint: str = ""


#: Every field option of the meta-model and the input that edits it.
OPTIONS = {
    o.name: o
    for o in (
        Option("max_length", "Maximum length", "integer", "Most characters allowed."),
        Option(
            "pattern",
            "Pattern",
            "text",
            "A regular expression the value must match, e.g. ^[A-Z]{2}-[0-9]{4}$.",
        ),
        Option("precision", "Decimal places", "integer", "The most decimal places allowed."),
        Option("unit", "Unit", "text", "Shown next to the value, e.g. mg/L."),
        Option("min", "Minimum", "number"),
        Option("max", "Maximum", "number"),
        Option("options", "Options", "options", "The value is stored; the label is shown."),
        Option("to", "Refers to", "type", "The object type of the records it points at."),
        Option("max_size", "Largest file (bytes)", "integer"),
        Option(
            "accept",
            "Accepted files",
            "list",
            "Comma-separated media types or extensions, e.g. application/pdf, .pdf",
        ),
        Option(
            "expression",
            "Expression",
            "expression",
            "Calculated on every save, e.g. round(reading - nominal, 3).",
        ),
        Option("result_type", "Result type", "result_type"),
        Option("help", "Help text", "textarea", "Shown with the field on forms."),
        Option("default", "Default value", "default", "What a new record starts with."),
        Option("required", "Required", "checkbox"),
        Option(
            "required_if", "Required when", "expression", "An expression, e.g. adjusted == True."
        ),
        Option("visible_if", "Shown when", "expression", "Forms hide the field otherwise."),
        Option("unique", "Unique", "checkbox", "No two records may hold the same value."),
        Option("read_only", "Read-only", "checkbox", "Set at creation, never changed."),
        Option(
            "system_set",
            "System-set",
            "checkbox",
            "Only a workflow step writes it, never a person.",
        ),
        Option("filterable", "Filterable", "checkbox", "Lists filter and sort on it (indexed)."),
        Option("in_list", "In lists", "checkbox", "Shown as a column of lists."),
        Option("section", "Section", "section"),
    )
}
#: Options that belong to one field type, in the order the editor shows them.
TYPE_OPTIONS = {
    "text": ("max_length", "pattern"),
    "long_text": ("max_length",),
    "integer": ("min", "max", "unit"),
    "decimal": ("precision", "unit", "min", "max"),
    "choice": ("options",),
    "multi_choice": ("options",),
    "reference": ("to",),
    "attachment": ("max_size", "accept"),
    "computed": ("expression", "result_type"),
}
COMMON_OPTIONS = (
    "help",
    "default",
    "required",
    "required_if",
    "visible_if",
    "unique",
    "read_only",
    "system_set",
    "filterable",
    "in_list",
    "section",
)
RESULT_TYPES = ("text", "number", "boolean", "date")


def field_options(kind: str) -> list[Option]:
    """The options the editor offers for a field of type ``kind``.

    Only options that mean something for the type are offered (the metadata
    documentation lists them); the type service still checks every rule.
    """
    offered = {
        "unique": kind in SCALAR_TYPES,
        "filterable": kind in SCALAR_TYPES or kind == "computed",
        "required": kind != "computed",
        "default": kind not in ("computed", "attachment"),
    }
    names = [*TYPE_OPTIONS.get(kind, ()), *COMMON_OPTIONS]
    return [OPTIONS[name] for name in names if offered.get(name, True)]


def new_draft() -> dict[str, Any]:
    return {"key": "", "label": "", "plural": "", "numbering": "", "fields": []}


# --- rebuilding the draft from the posted form ---


def merge_form(draft: Any, form: Form) -> dict[str, Any]:
    """The draft with the values on screen applied (a new dict; ``draft`` is untouched)."""
    merged: dict[str, Any] = copy.deepcopy(draft) if isinstance(draft, dict) else {}
    fields = merged.get("fields")
    merged["fields"] = (
        [f for f in fields if isinstance(f, dict)] if isinstance(fields, list) else []
    )
    _merge_settings(merged, form)
    _merge_sections(merged, form)
    _merge_field(merged, form)
    return merged


def _merge_settings(draft: dict[str, Any], form: Form) -> None:
    put(draft, "key", form.text("original") or form.text("key") or None)
    for name in ("label", "plural", "numbering", "title", "workflow", "due_field"):
        put(draft, name, form.text(name) or None)
    put(draft, "description", form.raw("description") or None)
    put(draft, "require_reason", form.checked("require_reason"), False)
    permissions = draft.get("permissions")
    permissions = dict(permissions) if isinstance(permissions, dict) else {}
    for action in ACTIONS:
        put(permissions, action, form.values(f"perm_{action}"), [])
    put(draft, "permissions", permissions, {})


def _merge_sections(draft: dict[str, Any], form: Form) -> None:
    """Sections are edited in place; renaming one moves its fields along.

    A row whose key and label were both cleared is dropped, like a removed one.
    """
    old = [s for s in draft.get("sections") or [] if isinstance(s, dict)]
    rows = []
    for index in range(form.count("section_count")):
        key, label = form.text(f"section_key_{index}"), form.text(f"section_label_{index}")
        if not key and not label:
            continue
        row = dict(old[index]) if index < len(old) else {}
        previous = row.get("key")
        put(row, "key", key or None)
        put(row, "label", label or None)
        rows.append(row)
        if previous and key and previous != key:
            for fdef in draft["fields"]:
                if fdef.get("section") == previous:
                    fdef["section"] = key
    put(draft, "sections", rows, [])


def _merge_field(draft: dict[str, Any], form: Form) -> None:
    index = form.index("editing")
    if index is None or index >= len(draft["fields"]):
        return
    fdef = draft["fields"][index]
    old_kind = fdef.get("type")
    kind = form.text("f_type") or old_kind
    put(fdef, "key", form.text("f_key") or None)
    put(fdef, "label", form.text("f_label") or None)
    if kind not in FIELD_TYPES or kind == old_kind:
        for option in field_options(str(kind)):
            _read_option(fdef, option, form, str(kind))
        return
    # A new type: the inputs on screen were the old type's; keep what both share.
    kept = {o.name for o in field_options(kind)} - {"default"}
    shared = [o for o in field_options(str(old_kind)) if o.name in kept]
    for name in list(fdef):
        if name not in kept | {"key", "label"}:
            del fdef[name]
    fdef["type"] = kind
    for option in shared:
        _read_option(fdef, option, form, kind)


def _read_option(fdef: dict[str, Any], option: Option, form: Form, kind: str) -> None:
    name = f"f_{option.name}"
    widget = option.widget
    if widget == "checkbox":
        put(fdef, option.name, form.checked(name), False)
    elif widget == "textarea":
        put(fdef, option.name, form.raw(name) or None)
    elif widget in ("integer", "number"):
        put(fdef, option.name, parse_number(form.text(name)))
    elif widget == "list":
        put(fdef, option.name, parse_list(form.text(name)))
    elif widget == "options":
        put(fdef, option.name, _read_choice_options(form))
    elif widget == "default":
        put(fdef, option.name, _read_default(kind, form))
    else:  # text, expression and the selects
        put(fdef, option.name, form.text(name) or None)


def _read_choice_options(form: Form) -> list[dict[str, Any]]:
    rows = []
    for index in range(form.count("opt_count")):
        value, label = form.text(f"opt_value_{index}"), form.text(f"opt_label_{index}")
        if value or label:
            row: dict[str, Any] = {}
            put(row, "value", value or None)
            put(row, "label", label or None)
            rows.append(row)
    return rows


def _read_default(kind: str, form: Form) -> Any:
    """A default typed in the form, as the JSON value the field stores."""
    if kind == "multi_choice":
        return form.values("f_default") or None
    raw = form.text("f_default")
    if not raw:
        return None
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    if kind in ("integer", "decimal"):
        return parse_number(raw)
    if kind == "reference" and raw.isdigit():
        return int(raw)
    return raw


# --- the buttons ---


def apply_op(
    conn: Connection, draft: dict[str, Any], op: str, form: Form, selected: int | None
) -> int | None:
    """Apply the button ``op`` (``add_field``, ``up:3``...) to ``draft``; returns the open field."""
    name, _, arg = op.partition(":")
    fields: list[dict[str, Any]] = draft["fields"]
    selected = open_item(len(fields), selected, Problems.none(), "fields")
    index = int(arg) if arg.isdigit() else None
    if name == "add_field":
        fields.append(_new_field(draft, form, versions.keys(conn, KIND)))
        return len(fields) - 1
    if name == "add_section":
        sections = draft.setdefault("sections", [])
        number = len(sections) + 1
        label = form.text("new_section_label") or f"Section {number}"
        sections.append({"key": key_for(label, f"section_{number}", sections), "label": label})
        return selected
    if name == "close":
        return None
    if name == "add_option" and selected is not None:
        fields[selected].setdefault("options", []).append({"value": "", "label": ""})
        return selected
    if index is None:
        return selected
    handled, selected = list_op(fields, name, index, selected)
    if handled:
        return selected
    if name == "remove_section":
        _remove_section(draft, index)
    elif name == "remove_option" and selected is not None:
        options = fields[selected].get("options")
        if isinstance(options, list) and index < len(options):
            del options[index]
    return selected


def _new_field(draft: dict[str, Any], form: Form, type_keys: list[str]) -> dict[str, Any]:
    kind = form.text("new_type")
    kind = kind if kind in FIELD_TYPES else "text"
    label = form.text("new_label") or f"New {kind.replace('_', ' ')} field"
    fields = draft["fields"]
    key = form.text("new_key") or key_for(label, f"field_{len(fields) + 1}", fields)
    fdef: dict[str, Any] = {"key": key, "label": label, "type": kind}
    if kind in ("choice", "multi_choice"):
        fdef["options"] = [{"value": "", "label": ""}]
    elif kind == "reference":
        fdef["to"] = draft.get("key") or (type_keys[0] if type_keys else "")
    return fdef


def _remove_section(draft: dict[str, Any], index: int) -> None:
    sections = draft.get("sections") or []
    if index >= len(sections):
        return
    gone = sections.pop(index).get("key")
    for fdef in draft["fields"]:
        if fdef.get("section") == gone:
            del fdef["section"]


# --- what the page shows ---


def check_draft(conn: Connection, draft: dict[str, Any]) -> Problems:
    """What publishing the draft would refuse, without publishing (the type service's checks)."""
    key = draft.get("key")
    context = definition_context(conn, key if isinstance(key, str) else "")
    try:
        spec = validate_type_definition(draft, context)
    except ValidationFailed as exc:
        return Problems(exc.errors)
    return Problems(check_type_workflow(conn, spec, batch_types=set(context.types)))


def _context(
    conn: Connection,
    session: WebSession,
    draft: dict[str, Any],
    original: str,
    selected: int | None,
    problems: Problems,
    message: str | None = None,
) -> dict[str, Any]:
    fields = draft["fields"]
    selected = open_item(len(fields), selected, problems, "fields")
    live = check_draft(conn, draft)
    published = versions.current(conn, KIND, original) if original else None
    changes = diff_definitions(published[1], draft) if published is not None and not live else None
    return {
        **draft_views(draft),
        "original": original,
        "selected": selected,
        "problems": problems,
        "live": live,
        "changes": changes,
        "message": message,
        "field_types": list(FIELD_TYPES),
        "options": field_options(fields[selected].get("type", "")) if selected is not None else [],
        "result_types": RESULT_TYPES,
        "roles": list_roles(conn),
        "actions": ACTIONS,
        "type_keys": versions.keys(conn, KIND),
        "workflows": versions.keys(conn, WORKFLOW_KIND),
        "history": version_history(conn, KIND, original, _field_count),
    }


def _field_count(body: dict[str, Any]) -> dict[str, int]:
    return {"fields": len(body.get("fields", []))}


TYPES = Designer(
    name="type",
    kind=KIND,
    what=WHAT,
    new_draft=new_draft,
    published=lambda conn, key: copy.deepcopy(type_model(conn, key).definition),
    merge=merge_form,
    publish=publish_type,
    apply=apply_op,
    context=_context,
)


class TypeDesignerController(DesignerController):
    """The object type designer, and the list of types."""

    path = "/admin/types"
    design = TYPES

    @get("/", sync_to_thread=True)
    def index(self, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            types = list_types(conn, session.principal)
            for item in types:
                item["fields"] = len(type_model(conn, item["key"]).field_specs)
        return page("admin/types.html", session, types=types)
