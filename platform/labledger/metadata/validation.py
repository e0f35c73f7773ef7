"""Validation of object type definitions, before anything is published.

First the definition must match ``metadata/object_type.schema.json``; then the
rules a schema cannot express: unique keys, references to types, workflows and
roles that exist, expressions that parse and name real fields, defaults that
fit their field, and a field key that keeps its type across versions (old
records still hold values of the old type under that key).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from labledger.db.jsonfields import NUL_MESSAGE, nul_paths
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import EVERYONE
from labledger.metadata.expression_check import expression_problem
from labledger.metadata.fieldtypes import FIELD_TYPES, value_type
from labledger.metadata.messages import field_errors
from labledger.metadata.model import CONTEXT_NAMES, TITLE_PLACEHOLDER
from labledger.metadata.patterns import PatternError, PatternValidator, compile_pattern
from labledger.metadata.physical import BASE_COLUMNS
from labledger.metadata.schemas import meta_validator

#: Field keys the platform itself uses in titles and expressions.
RESERVED_KEYS = (
    frozenset({"id", "number", "state", "version"})
    | CONTEXT_NAMES
    | frozenset(BASE_COLUMNS.values())
)
COUNTER = re.compile(r"\{#+\}")
#: Types whose values can be compared for uniqueness and used as filters.
SCALAR_TYPES = frozenset(
    {"text", "integer", "decimal", "boolean", "date", "datetime", "choice", "user", "reference"}
)


@dataclass
class DefinitionContext:
    """What exists around the definition: the names it may refer to."""

    types: Collection[str] = ()
    workflows: Collection[str] = ()
    roles: Collection[str] = ()
    #: Every field key ever published for this type, with its type.
    past_field_types: Mapping[str, str] = field(default_factory=dict)


def validate_type_definition(definition: Any, context: DefinitionContext, prefix: str = "") -> None:
    """Raise ValidationFailed listing every problem, each with its JSON path."""
    errors = field_errors(meta_validator("object_type").iter_errors(definition), prefix)
    errors += [FieldError(path, NUL_MESSAGE) for path in nul_paths(definition, prefix)]
    if errors:
        raise ValidationFailed("The object type definition is not valid.", errors)
    checker = _Checker(definition, context, prefix)
    checker.run()
    if checker.errors:
        raise ValidationFailed("The object type definition is not valid.", checker.errors)


class _Checker:
    def __init__(self, definition: dict[str, Any], context: DefinitionContext, prefix: str):
        self.definition = definition
        self.context = context
        self.prefix = prefix
        self.errors: list[FieldError] = []
        self.fields = definition["fields"]
        self.keys = [f["key"] for f in self.fields]

    def error(self, path: str, message: str) -> None:
        location = f"{self.prefix}.{path}" if self.prefix else path
        self.errors.append(FieldError(location, message))

    def run(self) -> None:
        self.check_keys()
        self.check_numbering()
        self.check_title()
        self.check_due_field()
        self.check_rules()
        self.check_child_numbering()
        self.check_references_out()
        for index, fdef in enumerate(self.fields):
            self.check_field(index, fdef)

    def check_keys(self) -> None:
        for key, count in Counter(self.keys).items():
            if count > 1:
                index = self.keys.index(key)
                self.error(f"fields[{index}].key", f"'{key}' is used by {count} fields")
        for index, key in enumerate(self.keys):
            if key in RESERVED_KEYS:
                self.error(f"fields[{index}].key", f"'{key}' is reserved by the platform")
            old_type = self.context.past_field_types.get(key)
            new_type = value_type(self.fields[index])
            if old_type and old_type != new_type:
                option = "type" if old_type.split()[0] != new_type.split()[0] else "result_type"
                self.error(
                    f"fields[{index}].{option}",
                    f"field '{key}' was published as {old_type}; a field never changes type "
                    "(existing records keep their values): add a field with a new key instead",
                )

    def check_numbering(self) -> None:
        counters = COUNTER.findall(self.definition["numbering"])
        if len(counters) != 1:
            self.error("numbering", "needs exactly one counter such as {#####}")

    def check_rules(self) -> None:
        names = CONTEXT_NAMES | set(self.keys)
        for index, rule in enumerate(self.definition.get("rules", [])):
            self.check_expression(f"rules[{index}].expression", rule["expression"], names)
            for position, key in enumerate(rule.get("fields", [])):
                if key not in self.keys:
                    self.error(f"rules[{index}].fields[{position}]", f"there is no field '{key}'")

    def check_child_numbering(self) -> None:
        spec = self.definition.get("child_numbering")
        if spec is None:
            return
        fdef = next((f for f in self.fields if f["key"] == spec["field"]), None)
        if fdef is None or fdef["type"] != "reference" or fdef.get("multiple"):
            self.error(
                "child_numbering.field", f"'{spec['field']}' is not a single reference field"
            )
        if "{parent}" not in spec["pattern"] or len(COUNTER.findall(spec["pattern"])) != 1:
            self.error(
                "child_numbering.pattern", "needs {parent} and exactly one counter such as {##}"
            )

    def check_due_field(self) -> None:
        due = self.definition.get("due_field")
        if due is None:
            return
        kinds = {f["key"]: f["type"] for f in self.fields}
        if kinds.get(due) not in ("date", "datetime"):
            self.error("due_field", f"'{due}' is not a date or datetime field of this type")

    def check_title(self) -> None:
        for name in TITLE_PLACEHOLDER.findall(self.definition.get("title", "")):
            if name != "number" and name not in self.keys:
                self.error("title", f"'{{{name}}}' is not a field of this type")

    def check_references_out(self) -> None:
        workflow = self.definition.get("workflow")
        if workflow and workflow not in self.context.workflows:
            self.error("workflow", f"there is no workflow '{workflow}'")
        for action, roles in self.definition.get("permissions", {}).items():
            for index, role_key in enumerate(roles):
                if role_key != EVERYONE and role_key not in self.context.roles:
                    self.error(f"permissions.{action}[{index}]", f"there is no role '{role_key}'")
        section_keys = [s["key"] for s in self.definition.get("sections", [])]
        for key, count in Counter(section_keys).items():
            if count > 1:
                self.error("sections", f"section '{key}' is defined {count} times")
        if section_keys:
            for index, fdef in enumerate(self.fields):
                if fdef.get("section") and fdef["section"] not in section_keys:
                    self.error(
                        f"fields[{index}].section", f"there is no section '{fdef['section']}'"
                    )

    def check_field(self, index: int, fdef: dict[str, Any]) -> None:
        path = f"fields[{index}]"
        kind = fdef["type"]
        names = CONTEXT_NAMES | set(self.keys)
        targets = set(self.context.types) | {self.definition["key"]}
        if kind == "reference" and fdef["to"] not in targets:
            self.error(f"{path}.to", f"there is no object type '{fdef['to']}'")
        if kind in ("choice", "multi_choice"):
            values = [o["value"] for o in fdef["options"]]
            for value, count in Counter(values).items():
                if count > 1:
                    self.error(f"{path}.options", f"the value '{value}' is listed {count} times")
        if kind == "computed":
            earlier = set(self.keys[:index]) | {
                f["key"] for f in self.fields if f["type"] != "computed"
            }
            self.check_expression(f"{path}.expression", fdef["expression"], CONTEXT_NAMES | earlier)
            if fdef.get("required") or fdef.get("unique") or "default" in fdef:
                self.error(path, "a computed field cannot be required, unique or have a default")
        if fdef.get("multiple") and (fdef.get("unique") or fdef.get("filterable")):
            self.error(f"{path}.multiple", "a multiple reference cannot be unique or filterable")
        for option in ("required_if", "visible_if", "default_expression"):
            if fdef.get(option):
                self.check_expression(f"{path}.{option}", fdef[option], names)
        if fdef.get("pattern"):
            try:
                compile_pattern(fdef["pattern"])
            except PatternError as exc:
                self.error(f"{path}.pattern", str(exc))
        if "min" in fdef and "max" in fdef and fdef["min"] > fdef["max"]:
            self.error(f"{path}.min", "must not be greater than max")
        if fdef.get("unique") and kind not in SCALAR_TYPES:
            self.error(f"{path}.unique", f"a {kind} field cannot be unique")
        if fdef.get("filterable") and kind not in SCALAR_TYPES | {"computed"}:
            self.error(f"{path}.filterable", f"a {kind} field cannot be filtered")
        if "default" in fdef and kind != "computed":
            self.check_default(path, fdef)
        if fdef.get("system_set") and fdef.get("required"):
            self.error(
                f"{path}.system_set",
                "a system-set field cannot be required: nobody could create a record "
                "(list it in a workflow state's required fields instead)",
            )

    def check_expression(self, path: str, source: str, names: Collection[str]) -> None:
        problem = expression_problem(source, names)
        if problem:
            self.error(path, problem)

    def check_default(self, path: str, fdef: dict[str, Any]) -> None:
        if fdef["default"] is None:
            return
        kind = FIELD_TYPES[fdef["type"]]
        for problem in PatternValidator(kind.schema(fdef)).iter_errors(fdef["default"]):
            for item in field_errors([problem]):
                self.error(f"{path}.default", item.message)
            return
        try:
            kind.normalise(fdef["default"], fdef)
        except ValueError as exc:
            self.error(f"{path}.default", str(exc))
