"""One field of an object type in the designer's editor: the options it offers and how
the posted editor is read back into the field's definition.

The editor offers only the options that mean something for the field's type (the
metadata documentation lists them); the type service still checks every rule
when the draft is previewed or published. Reading is faithful: an option the
admin did not touch stays exactly as the definition wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labledger.metadata.fieldtypes import FIELD_TYPES
from labledger.metadata.validation import SCALAR_TYPES
from labledger.web.admin.common import Form, parse_list, parse_number, put


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
        Option(
            "options_from",
            "Answers from",
            "text_field",
            "Another text field whose value lists the answers to offer, separated by |.",
        ),
        Option("precision", "Decimal places", "integer", "The most decimal places allowed."),
        Option("unit", "Unit", "text", "Shown next to the value, e.g. mg/L."),
        Option("min", "Minimum", "number"),
        Option("max", "Maximum", "number"),
        Option("options", "Options", "options", "The value is stored; the label is shown."),
        Option("to", "Refers to", "type", "The object type of the records it points at."),
        Option(
            "multiple",
            "Several records",
            "checkbox",
            "Holds a list of records of that type instead of one.",
        ),
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
        Option(
            "alarm",
            "Alarm value",
            "alarm",
            "The value queues and signing dialogs flag, e.g. yes for 'out of specification'.",
        ),
        Option("help", "Help text", "textarea", "Shown with the field on forms."),
        Option("default", "Default value", "default", "What a new record starts with."),
        Option(
            "default_expression",
            "Default expression",
            "expression",
            "Computed when a record is created with the field empty, e.g. add_days(today(), 30).",
        ),
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
    "text": ("max_length", "pattern", "options_from"),
    "long_text": ("max_length",),
    "integer": ("min", "max", "unit"),
    "decimal": ("precision", "unit", "min", "max"),
    "choice": ("options",),
    "multi_choice": ("options",),
    "reference": ("to", "multiple"),
    "attachment": ("max_size", "accept"),
    "computed": ("expression", "result_type", "alarm"),
}
COMMON_OPTIONS = (
    "help",
    "default",
    "default_expression",
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


@dataclass(frozen=True)
class Alarm:
    """One choice of a yes/no computed field's ``alarm``: its JSON value and its words."""

    value: bool | None
    label: str


#: The choices of ``alarm`` by the name the form sends.
ALARMS = {
    "yes": Alarm(True, "Yes is the alarm"),
    "no": Alarm(False, "No is the alarm"),
    "neither": Alarm(None, "Neither: a plain yes or no"),
}


def field_options(kind: str) -> list[Option]:
    """The options the editor offers for a field of type ``kind``."""
    offered = {
        "unique": kind in SCALAR_TYPES,
        "filterable": kind in SCALAR_TYPES or kind == "computed",
        "required": kind != "computed",
        "default": kind not in ("computed", "attachment"),
        "default_expression": kind not in ("computed", "attachment"),
    }
    names = [*TYPE_OPTIONS.get(kind, ()), *COMMON_OPTIONS]
    return [OPTIONS[name] for name in names if offered.get(name, True)]


def alarm_choice(fdef: dict[str, Any]) -> str:
    """The editor's choice for a yes/no computed field's ``alarm`` (absent: yes)."""
    value = fdef.get("alarm", True)
    return next((name for name, alarm in ALARMS.items() if alarm.value is value), "yes")


def merge_field(fdef: dict[str, Any], form: Form) -> None:
    """The field open in the editor, updated from the posted editor (in place)."""
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
        put(fdef, option.name, _read_default(fdef, kind, form))
    elif widget == "alarm":
        _read_alarm(fdef, form)
    else:  # text, expression and the selects
        put(fdef, option.name, form.text(name) or None)


def _read_alarm(fdef: dict[str, Any], form: Form) -> None:
    """The alarm choice, shown only for a yes/no result (read after ``result_type``).

    Yes is the default and is written only where the definition already spelled it
    out. A result type changed away from yes/no takes the choice with it: it no
    longer means anything."""
    if not form.has("f_alarm"):
        return
    if fdef.get("result_type") != "boolean":
        fdef.pop("alarm", None)
        return
    chosen = ALARMS.get(form.text("f_alarm"))
    value = True if chosen is None else chosen.value
    if value is True and fdef.get("alarm") is not True:
        fdef.pop("alarm", None)
    else:
        fdef["alarm"] = value


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


def _read_default(fdef: dict[str, Any], kind: str, form: Form) -> Any:
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
    if kind == "reference" and fdef.get("multiple"):
        return [int(item) if item.isdigit() else item for item in parse_list(raw) or []]
    if kind == "reference" and raw.isdigit():
        return int(raw)
    return raw
