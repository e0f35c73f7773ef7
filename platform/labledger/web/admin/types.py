"""The object type designer: a definition edited in the page, published by the type service.

The definition being edited (the draft) travels with the page as a hidden
JSON input. Each request rebuilds it from that JSON plus the inputs on
screen (the type's settings, its lists -- sections, rules, summary fields --
and the one field open in the editor), applies the button pressed (add, move,
remove a field...), and renders the designer again. Nothing is stored until
the admin publishes, and publishing is ``metadata.types.publish_type``: the
same checks, versioning and audit as ``PUT /api/v1/types/{key}``. With change
control on, the button saves the draft into a change request instead
(``web.admin.designer``).
"""

from __future__ import annotations

import copy
import re
from functools import partial
from typing import Any

from litestar import get
from litestar.response import Template
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.errors import FieldError, ValidationFailed
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
from labledger.metadata.validation import validate_type_definition
from labledger.records.states import WORKFLOW_KIND
from labledger.web.admin.common import Form, Problems, put
from labledger.web.admin.designer import (
    Designer,
    DesignerController,
    FieldChoice,
    draft_views,
    key_for,
    list_op,
    open_item,
    version_history,
)
from labledger.web.admin.locations import TYPE_WORDS, WORKFLOW_WORDS, place
from labledger.web.admin.type_fields import (
    ALARMS,
    RESULT_TYPES,
    alarm_choice,
    field_options,
    merge_field,
)
from labledger.web.admin.type_lists import apply_list_op, field_list, merge_lists
from labledger.web.pages import page
from labledger.workflows.definitions import check_type_workflow

ACTIONS = ("read", "create", "edit")
WHAT = "Designing object types"
#: How the type service quotes a problem of the type's workflow (``check_type_workflow``):
#: the workflow, then the path of the problem inside it.
_WORKFLOW_PROBLEM = re.compile(r"^workflow '([^']*)' (\S+): ")


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
    merge_lists(merged, form)
    index = form.index("editing")
    if index is not None and index < len(merged["fields"]):
        merge_field(merged["fields"][index], form)
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
        put(permissions, action, form.keys(f"perm_{action}", permissions.get(action)), [])
    put(draft, "permissions", permissions, {})


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
    if name == "close":
        return None
    if name == "add_option" and selected is not None:
        fields[selected].setdefault("options", []).append({"value": "", "label": ""})
        return selected
    if apply_list_op(draft, name, index, form) or index is None:
        return selected
    handled, selected = list_op(fields, name, index, selected)
    if not handled and name == "remove_option" and selected is not None:
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


def _in_words(conn: Connection, problems: Problems) -> Problems:
    """``problems`` with the workflow's paths quoted in their messages put in words
    ("workflow 'flow', state 3 (In review): names unknown field..."): the path sits
    inside the workflow, whose labels the type's own draft does not hold."""
    worded = []
    for error in problems.errors:
        found = _WORKFLOW_PROBLEM.match(error.message)
        stored = versions.current(conn, WORKFLOW_KIND, found.group(1)) if found else None
        if found is None or stored is None:
            worded.append(error)
            continue
        where = place(found.group(2), stored[1], WORKFLOW_WORDS)
        text = f"workflow '{found.group(1)}', {where[:1].lower()}{where[1:]}: "
        worded.append(FieldError(error.field, text + error.message[found.end() :]))
    return Problems(worded)


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
        "problems": _in_words(conn, problems),
        "live": _in_words(conn, live),
        "where": partial(place, document=draft, vocabulary=TYPE_WORDS),
        "changes": changes,
        "message": message,
        "field_types": list(FIELD_TYPES),
        "options": field_options(fields[selected].get("type", "")) if selected is not None else [],
        "result_types": RESULT_TYPES,
        "alarms": ALARMS,
        "alarm_choice": alarm_choice,
        "summary_keys": [k for k in field_list(draft, "summary") if isinstance(k, str)],
        "field_list": field_list,
        "field_choices": _field_choices(fields),
        "roles": list_roles(conn),
        "actions": ACTIONS,
        "type_keys": versions.keys(conn, KIND),
        "workflows": versions.keys(conn, WORKFLOW_KIND),
        "history": version_history(conn, KIND, original, _field_count),
    }


def _field_choices(fields: list[dict[str, Any]]) -> list[FieldChoice]:
    """The draft's fields as its pickers offer them (a rule's fields, summary fields,
    the parent reference of child numbering)."""
    return [
        FieldChoice(str(f["key"]), str(f.get("label") or f["key"]), str(f.get("type", "")))
        for f in fields
        if f.get("key")
    ]


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
