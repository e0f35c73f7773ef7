"""The workflow designer: states and transitions edited in the page, with the machine drawn.

Like the type designer, the draft travels with the page as hidden JSON and
is rebuilt on each request from that JSON plus what is on screen: the states
table and the one transition open in the editor. Publishing is
``workflows.definitions.publish_workflow``, the same as
``PUT /api/v1/workflows/{key}``; with change control on, the draft is saved
into a change request instead (``web.admin.designer``).
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

from litestar import get
from litestar.response import Template
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.errors import NotFound
from labledger.identity.roles import list_roles
from labledger.identity.sessions import WebSession
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import list_types
from labledger.records.states import WORKFLOW_KIND
from labledger.web.admin.common import Form, Problems, fresh_key, put
from labledger.web.admin.designer import (
    Designer,
    DesignerController,
    draft_views,
    key_for,
    list_op,
    open_item,
    swap,
    version_history,
)
from labledger.web.admin.diagram import layout
from labledger.web.admin.locations import WORKFLOW_WORDS, place
from labledger.web.admin.workflow_users import WorkflowUsers, type_names
from labledger.web.pages import page
from labledger.workflows.definitions import publish_workflow

WHAT = "Designing workflows"
EDITABLE_MODES = ("all", "none", "list")
#: Each kind of action, as the editor names it and as it starts when added.
ACTION_KINDS = {
    "set": ("Set a field", {"type": "set", "field": "", "expression": ""}),
    "create": ("Create a record", {"type": "create", "record_type": "", "fields": {}}),
    "transition_referenced": (
        "Move the referenced record",
        {"type": "transition_referenced", "reference": "", "transition": ""},
    ),
}


def new_draft() -> dict[str, Any]:
    return {
        "key": "",
        "label": "",
        "states": [{"key": "draft", "label": "Draft", "initial": True}],
        "transitions": [],
    }


# --- rebuilding the draft from the posted form ---


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def merge_form(draft: Any, form: Form) -> dict[str, Any]:
    """The draft with the values on screen applied (a new dict)."""
    merged: dict[str, Any] = copy.deepcopy(draft) if isinstance(draft, dict) else {}
    merged["states"] = _dicts(merged.get("states"))
    merged["transitions"] = _dicts(merged.get("transitions"))
    put(merged, "key", form.text("original") or form.text("key") or None)
    put(merged, "label", form.text("label") or None)
    put(merged, "description", form.raw("description") or None)
    _merge_states(merged, form)
    _merge_transition(merged, form)
    return merged


def _merge_states(draft: dict[str, Any], form: Form) -> None:
    """The states table; renaming a state renames it in the transitions too."""
    initial = form.index("initial")
    states = draft["states"]
    for index in range(min(form.count("state_count"), len(states))):
        row = states[index]
        previous, key = row.get("key"), form.text(f"state_key_{index}")
        put(row, "key", key or None)
        put(row, "label", form.text(f"state_label_{index}") or None)
        put(row, "initial", initial == index, False)
        put(row, "final", form.checked(f"state_final_{index}"), False)
        mode = form.text(f"state_editable_{index}") or "all"
        listed = row.get("editable")
        editable = form.keys(f"state_fields_{index}", listed) if mode == "list" else mode
        put(row, "editable", editable, "all")
        put(row, "required", form.keys(f"state_required_{index}", row.get("required")), [])
        if previous and key and previous != key:
            for transition in draft["transitions"]:
                sources = transition.get("from")
                if isinstance(sources, list):
                    transition["from"] = [key if s == previous else s for s in sources]
                if transition.get("to") == previous:
                    transition["to"] = key


def _merge_transition(draft: dict[str, Any], form: Form) -> None:
    index = form.index("editing")
    if index is None or index >= len(draft["transitions"]):
        return
    transition = draft["transitions"][index]
    put(transition, "key", form.text("t_key") or None)
    put(transition, "label", form.text("t_label") or None)
    transition["from"] = form.keys("t_from", transition.get("from"))
    put(transition, "to", form.text("t_to") or None)
    put(transition, "roles", form.keys("t_roles", transition.get("roles")), [])
    put(transition, "guard", form.text("t_guard") or None)
    put(transition, "guard_message", form.text("t_guard_message") or None)
    required = form.keys("t_requires_fields", transition.get("requires_fields"))
    put(transition, "requires_fields", required, [])
    put(transition, "reason_required", form.checked("t_reason_required"), False)
    meaning = form.text("t_signature")
    signature = _member(transition, "signature")
    signature["meaning"] = meaning
    put(transition, "signature", signature if meaning else None)
    _merge_confirm(transition, form)
    separation = _member(transition, "separation")
    put(separation, "creator", form.checked("t_sep_creator"), False)
    earlier = form.keys("t_sep_transitions", separation.get("transitions"))
    put(separation, "transitions", earlier, [])
    authors_of = form.keys("t_sep_authors_of", separation.get("authors_of"))
    put(separation, "authors_of", authors_of, [])
    put(separation, "message", form.text("t_sep_message") or None)
    put(transition, "separation", separation, {})
    actions = _dicts(transition.get("actions"))
    rows = [
        _read_action(form, j, actions[j] if j < len(actions) else {})
        for j in range(form.count("a_count"))
    ]
    put(transition, "actions", rows, [])


def _member(transition: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of one of the transition's objects (``signature``...), or a new one."""
    found = transition.get(name)
    return dict(found) if isinstance(found, dict) else {}


def _merge_confirm(transition: dict[str, Any], form: Form) -> None:
    """The confirmation the step asks for: a condition and a message; both cleared
    removes it (one without the other is the workflow service's to refuse)."""
    confirm = _member(transition, "confirm")
    put(confirm, "when", form.text("t_confirm_when") or None)
    put(confirm, "message", form.text("t_confirm_message") or None)
    put(transition, "confirm", confirm, {})


def _read_action(form: Form, index: int, old: dict[str, Any]) -> dict[str, Any]:
    """One action of the open transition; its type is fixed once it is added."""
    kind = form.text(f"a_type_{index}")
    action: dict[str, Any] = dict(old) if old.get("type") == kind else {"type": kind}
    if kind == "set":
        put(action, "field", form.text(f"a_field_{index}") or None)
        put(action, "expression", form.text(f"a_expression_{index}") or None)
    elif kind == "create":
        put(action, "record_type", form.text(f"a_record_type_{index}") or None)
        put(action, "link_field", form.text(f"a_link_field_{index}") or None)
        mapping = {}
        for row in range(form.count(f"a_map_count_{index}")):
            key = form.text(f"a_map_key_{index}_{row}")
            expression = form.text(f"a_map_expression_{index}_{row}")
            if key or expression:
                mapping[key] = expression
        action["fields"] = mapping
    elif kind == "transition_referenced":
        put(action, "reference", form.text(f"a_reference_{index}") or None)
        put(action, "transition", form.text(f"a_transition_{index}") or None)
    return action


# --- the buttons ---


def apply_op(
    conn: Connection, draft: dict[str, Any], op: str, form: Form, selected: int | None
) -> int | None:
    """Apply the button ``op`` to ``draft``; returns the transition open in the editor
    (``conn`` is unused: no button of this designer reads the database)."""
    name, _, arg = op.partition(":")
    states: list[dict[str, Any]] = draft["states"]
    transitions: list[dict[str, Any]] = draft["transitions"]
    selected = open_item(len(transitions), selected, Problems.none(), "transitions")
    numbers = [int(part) for part in arg.split(":") if part.isdigit()]
    index = numbers[0] if numbers else None
    if name == "add_state":
        label = form.text("new_state_label") or f"State {len(states) + 1}"
        states.append({"key": key_for(label, "state", states), "label": label})
        return selected
    if name == "add_transition":
        transitions.append(_new_transition(draft, form))
        return len(transitions) - 1
    if name == "close":
        return None
    if name == "add_action" and selected is not None:
        kind = form.text("new_action_type")
        blank = ACTION_KINDS.get(kind, ACTION_KINDS["set"])[1]
        transitions[selected].setdefault("actions", []).append(copy.deepcopy(blank))
        return selected
    if index is None:
        return selected
    handled, selected = list_op(transitions, name, index, selected)
    if handled:
        return selected
    if name in ("state_up", "state_down"):
        swap(states, index, -1 if name == "state_up" else 1)
    elif name == "remove_state" and index < len(states):
        gone = states.pop(index).get("key")
        for transition in transitions:
            if isinstance(transition.get("from"), list):
                transition["from"] = [s for s in transition["from"] if s != gone]
    elif selected is not None:
        _action_op(transitions[selected], name, numbers)
    return selected


def _new_transition(draft: dict[str, Any], form: Form) -> dict[str, Any]:
    states = [s.get("key") for s in draft["states"] if s.get("key")]
    initial = next((s["key"] for s in draft["states"] if s.get("initial") and s.get("key")), None)
    source = initial or (states[0] if states else "")
    target = next((s for s in states if s != source), source)
    label = form.text("new_transition_label") or f"Transition {len(draft['transitions']) + 1}"
    key = form.text("new_transition_key") or key_for(label, "go", draft["transitions"])
    return {"key": key, "label": label, "from": [source], "to": target}


def _action_op(transition: dict[str, Any], name: str, numbers: list[int]) -> None:
    """Remove an action, or add or remove a field mapping of a create action."""
    actions = transition.get("actions")
    if not isinstance(actions, list) or not numbers or numbers[0] >= len(actions):
        return
    action = actions[numbers[0]]
    if name == "remove_action":
        del actions[numbers[0]]
    elif name == "add_mapping" and isinstance(action.get("fields"), dict):
        action["fields"][fresh_key("field", action["fields"])] = ""
    elif name == "remove_mapping" and len(numbers) == 2 and isinstance(action.get("fields"), dict):
        keys = list(action["fields"])
        if numbers[1] < len(keys):
            del action["fields"][keys[numbers[1]]]


# --- what the page shows ---


def _context(
    conn: Connection,
    session: WebSession,
    draft: dict[str, Any],
    original: str,
    selected: int | None,
    problems: Problems,
    message: str | None = None,
) -> dict[str, Any]:
    transitions = draft["transitions"]
    selected = open_item(len(transitions), selected, problems, "transitions")
    key = draft.get("key")
    users = WorkflowUsers.of(conn, original or (key if isinstance(key, str) else ""))
    return {
        **draft_views(draft),
        "original": original,
        "selected": selected,
        "problems": problems,
        "live": Problems(users.problems(conn, draft)),
        "where": partial(place, document=draft, vocabulary=WORKFLOW_WORDS),
        "message": message,
        "diagram": layout(draft),
        "roles": list_roles(conn),
        "type_keys": versions.keys(conn, TYPE_KIND),
        "used_by": users.models,
        "field_choices": users.field_choices(),
        "type_names": type_names(conn),
        "reference_targets": users.reference_targets(),
        "editable_modes": EDITABLE_MODES,
        "action_kinds": {kind: label for kind, (label, _) in ACTION_KINDS.items()},
        "history": version_history(conn, WORKFLOW_KIND, original),
    }


def _published(conn: Connection, key: str) -> dict[str, Any]:
    """A copy of the current version of workflow ``key``, to edit."""
    found = versions.current(conn, WORKFLOW_KIND, key)
    if found is None:
        raise NotFound(f"There is no workflow '{key}'.")
    return dict(found[1])


WORKFLOWS = Designer(
    name="workflow",
    kind=WORKFLOW_KIND,
    what=WHAT,
    new_draft=new_draft,
    published=_published,
    merge=merge_form,
    publish=publish_workflow,
    apply=apply_op,
    context=_context,
)


class WorkflowDesignerController(DesignerController):
    """The workflow designer, and the list of workflows."""

    path = "/admin/workflows"
    design = WORKFLOWS

    @get("/", sync_to_thread=True)
    def index(self, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            types = list_types(conn, session.principal)
            items = []
            for key in versions.keys(conn, WORKFLOW_KIND):
                version, body = versions.current(conn, WORKFLOW_KIND, key) or (0, {})
                items.append(
                    {
                        "key": key,
                        "label": body.get("label", key),
                        "version": version,
                        "states": len(body.get("states", [])),
                        "transitions": len(body.get("transitions", [])),
                        "types": [t for t in types if t["workflow"] == key],
                    }
                )
        return page("admin/workflows.html", session, workflows=items)
