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

from msgspec import UNSET, UnsetType

from labledger.db.jsonfields import NUL_MESSAGE, nul_paths
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import EVERYONE
from labledger.metadata.expression_check import expression_problem
from labledger.metadata.fieldtypes import FIELD_TYPES, value_schema, value_type
from labledger.metadata.messages import decode_checked, field_errors
from labledger.metadata.model import CONTEXT_NAMES, TITLE_PLACEHOLDER
from labledger.metadata.patterns import PatternError, PatternValidator, compile_pattern
from labledger.metadata.physical import BASE_COLUMNS
from labledger.metadata.schemas import meta_validator
from labledger.metadata.spec import ObjectTypeSpec
from labledger.metadata.spec.fields import (
    ChoiceField,
    ComputedField,
    DecimalField,
    FieldSpec,
    InputFieldSpec,
    IntegerField,
    MultiChoiceField,
    ReferenceField,
    TextField,
)

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


def validate_type_definition(
    definition: Any, context: DefinitionContext, prefix: str = ""
) -> ObjectTypeSpec:
    """``definition`` decoded, or ValidationFailed listing every problem, each with
    its JSON path.

    The schema check comes first: its messages are the ones people see. The
    rules beyond it are checked on the decoded struct."""
    errors = field_errors(meta_validator("object_type").iter_errors(definition), prefix)
    errors += [FieldError(path, NUL_MESSAGE) for path in nul_paths(definition, prefix)]
    if errors:
        raise ValidationFailed("The object type definition is not valid.", errors)
    spec = decode_checked(definition, ObjectTypeSpec, prefix)
    checker = _Checker(spec, context, prefix)
    checker.run()
    if checker.errors:
        raise ValidationFailed("The object type definition is not valid.", checker.errors)
    return spec


class _Checker:
    def __init__(self, spec: ObjectTypeSpec, context: DefinitionContext, prefix: str):
        self.spec = spec
        self.context = context
        self.prefix = prefix
        self.errors: list[FieldError] = []
        self.fields = spec.fields
        self.keys = [f.key for f in self.fields]

    def error(self, path: str, message: str) -> None:
        location = f"{self.prefix}.{path}" if self.prefix else path
        self.errors.append(FieldError(location, message))

    def run(self) -> None:
        self.check_keys()
        self.check_numbering()
        self.check_title()
        self.check_due_field()
        self.check_summary_fields()
        self.check_grid()
        self.check_rules()
        self.check_child_numbering()
        self.check_references_out()
        for index, fspec in enumerate(self.fields):
            self.check_field(index, fspec)

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
        counters = COUNTER.findall(self.spec.numbering)
        if len(counters) != 1:
            self.error("numbering", "needs exactly one counter such as {#####}")

    def check_rules(self) -> None:
        names = CONTEXT_NAMES | set(self.keys)
        for index, rule in enumerate(self.spec.rules):
            self.check_expression(f"rules[{index}].expression", rule.expression, names)
            for position, key in enumerate(rule.fields):
                if key not in self.keys:
                    self.error(f"rules[{index}].fields[{position}]", f"there is no field '{key}'")

    def check_child_numbering(self) -> None:
        numbering = self.spec.child_numbering
        if isinstance(numbering, UnsetType):
            return
        fspec = next((f for f in self.fields if f.key == numbering.field), None)
        if not isinstance(fspec, ReferenceField) or fspec.multiple:
            self.error(
                "child_numbering.field", f"'{numbering.field}' is not a single reference field"
            )
        if "{parent}" not in numbering.pattern or len(COUNTER.findall(numbering.pattern)) != 1:
            self.error(
                "child_numbering.pattern", "needs {parent} and exactly one counter such as {##}"
            )

    def check_due_field(self) -> None:
        due = self.spec.due_field
        if not due:
            return
        kinds = {f.key: f.kind for f in self.fields}
        if kinds.get(due) not in ("date", "datetime"):
            self.error("due_field", f"'{due}' is not a date or datetime field of this type")

    def check_summary_fields(self) -> None:
        self.check_field_list("summary_fields", self.spec.summary_fields)

    def check_grid(self) -> None:
        grid = self.spec.grid
        if isinstance(grid, UnsetType):
            return
        self.check_field_list("grid.context", grid.context)
        self.check_field_list("grid.columns", grid.columns)
        for position, key in enumerate(grid.columns):
            if key in grid.context:
                self.error(f"grid.columns[{position}]", f"'{key}' is a context column already")

    def check_field_list(self, path: str, keys: tuple[str, ...]) -> None:
        """Each of ``keys`` a field of the type, named once."""
        for position, key in enumerate(keys):
            if key not in self.keys:
                self.error(f"{path}[{position}]", f"there is no field '{key}'")
            elif keys.index(key) != position:
                self.error(f"{path}[{position}]", f"'{key}' is listed twice")

    def check_title(self) -> None:
        for name in TITLE_PLACEHOLDER.findall(self.spec.title):
            if name != "number" and name not in self.keys:
                self.error("title", f"'{{{name}}}' is not a field of this type")

    def check_references_out(self) -> None:
        workflow = self.spec.workflow
        if workflow and workflow not in self.context.workflows:
            self.error("workflow", f"there is no workflow '{workflow}'")
        for action in ("read", "create", "edit"):
            for index, role_key in enumerate(self.spec.permissions.roles_for(action)):
                if role_key != EVERYONE and role_key not in self.context.roles:
                    self.error(f"permissions.{action}[{index}]", f"there is no role '{role_key}'")
        section_keys = [section.key for section in self.spec.sections]
        for key, count in Counter(section_keys).items():
            if count > 1:
                self.error("sections", f"section '{key}' is defined {count} times")
        if section_keys:
            for index, fspec in enumerate(self.fields):
                if fspec.section and fspec.section not in section_keys:
                    self.error(f"fields[{index}].section", f"there is no section '{fspec.section}'")

    def check_field(self, index: int, fspec: FieldSpec) -> None:
        path = f"fields[{index}]"
        kind = fspec.kind
        names = CONTEXT_NAMES | set(self.keys)
        targets = set(self.context.types) | {self.spec.key}
        if isinstance(fspec, ReferenceField) and fspec.to not in targets:
            self.error(f"{path}.to", f"there is no object type '{fspec.to}'")
        if isinstance(fspec, ChoiceField | MultiChoiceField):
            values = [option.value for option in fspec.options]
            for value, count in Counter(values).items():
                if count > 1:
                    self.error(f"{path}.options", f"the value '{value}' is listed {count} times")
        if isinstance(fspec, ComputedField):
            earlier = set(self.keys[:index]) | {
                f.key for f in self.fields if not isinstance(f, ComputedField)
            }
            self.check_expression(f"{path}.expression", fspec.expression, CONTEXT_NAMES | earlier)
            if fspec.unique:
                self.error(path, "a computed field cannot be required, unique or have a default")
            if fspec.result_type != "boolean" and not isinstance(fspec.alarm, UnsetType):
                self.error(f"{path}.alarm", "only a yes/no result can raise an alarm")
        shared = fspec.unique or fspec.filterable
        if isinstance(fspec, ReferenceField) and fspec.multiple and shared:
            self.error(f"{path}.multiple", "a multiple reference cannot be unique or filterable")
        for option, source in (
            ("required_if", fspec.required_if),
            ("visible_if", fspec.visible_if),
            ("default_expression", fspec.default_expression),
        ):
            if source:
                self.check_expression(f"{path}.{option}", source, names)
        if isinstance(fspec, TextField) and fspec.options_from:
            offering = next((f for f in self.fields if f.key == fspec.options_from), None)
            if not isinstance(offering, TextField) or offering.key == fspec.key:
                self.error(
                    f"{path}.options_from", f"'{fspec.options_from}' is not another text field"
                )
        if isinstance(fspec, TextField) and fspec.pattern:
            try:
                compile_pattern(fspec.pattern)
            except PatternError as exc:
                self.error(f"{path}.pattern", str(exc))
        if isinstance(fspec, IntegerField | DecimalField):
            low, high = fspec.min, fspec.max
            if not isinstance(low, UnsetType) and not isinstance(high, UnsetType) and low > high:
                self.error(f"{path}.min", "must not be greater than max")
        if fspec.unique and kind not in SCALAR_TYPES:
            self.error(f"{path}.unique", f"a {kind} field cannot be unique")
        if fspec.filterable and kind not in SCALAR_TYPES | {"computed"}:
            self.error(f"{path}.filterable", f"a {kind} field cannot be filtered")
        if fspec.given_default is not UNSET:
            self.check_default(path, fspec)
        if isinstance(fspec, InputFieldSpec) and fspec.system_set and fspec.required:
            self.error(
                f"{path}.system_set",
                "a system-set field cannot be required: nobody could create a record "
                "(list it in a workflow state's required fields instead)",
            )

    def check_expression(self, path: str, source: str, names: Collection[str]) -> None:
        problem = expression_problem(source, names)
        if problem:
            self.error(path, problem)

    def check_default(self, path: str, fspec: FieldSpec) -> None:
        default = fspec.given_default
        if default is None:
            return
        for problem in PatternValidator(value_schema(fspec)).iter_errors(default):
            for item in field_errors([problem]):
                self.error(f"{path}.default", item.message)
            return
        try:
            FIELD_TYPES[fspec.kind].normalise(default, fspec)
        except ValueError as exc:
            self.error(f"{path}.default", str(exc))
