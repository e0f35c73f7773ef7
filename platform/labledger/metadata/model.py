"""A published object type version, compiled once for fast validation.

Definitions are immutable once published, so a compiled model is cached by
(type key, version) for the life of the process: the definition decoded into
its struct (``spec``), the input JSON Schema validator (with its compiled
quick check), the computed-field and conditional expressions are built once
and reused for every record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from labledger.expressions import Expression, compile_expression
from labledger.identity.principal import Principal
from labledger.metadata.expression_check import RELATED_FUNCTIONS
from labledger.metadata.fieldtypes import value_schema as field_value_schema
from labledger.metadata.schemas import MetaValidator, runtime_validator
from labledger.metadata.spec import ObjectTypeSpec, decode
from labledger.metadata.spec.fields import ComputedField, FieldSpec, InputFieldSpec
from labledger.metadata.spec.stored import stored_document

#: Names every expression may use besides the type's field keys.
CONTEXT_NAMES = frozenset({"user", "record"})
TITLE_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class TypeModel:
    key: str
    version: int
    #: The definition as published (less keys the structs do not mean: see
    #: metadata.spec.stored); ``spec`` is the same, typed.
    definition: dict[str, Any]
    #: The field definitions by key, as published (``field_specs``: typed).
    fields: dict[str, dict[str, Any]]
    spec: ObjectTypeSpec
    field_specs: dict[str, FieldSpec]
    input_schema: dict[str, Any]
    computed: tuple[tuple[str, Expression], ...]
    required_if: dict[str, Expression] = field(default_factory=dict)
    #: Checks across fields: (expression, message, fields to show it on).
    rules: tuple[tuple[Expression, str, tuple[str, ...]], ...] = ()
    #: Values computed for empty fields when a record is created.
    default_expressions: dict[str, Expression] = field(default_factory=dict)

    @cached_property
    def validator(self) -> MetaValidator:
        """The record input validator, built on first use: publishing a type compiles
        its model without validating any record."""
        return runtime_validator(self.input_schema)

    @cached_property
    def change_validator(self) -> MetaValidator:
        """The validator of some fields of a record: ``validator`` without the fields a
        record must have, for a change whose other fields passed ``validator`` already."""
        return runtime_validator({**self.input_schema, "required": []})

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def workflow(self) -> str | None:
        return self.spec.workflow

    @cached_property
    def system_set(self) -> frozenset[str]:
        """Fields the metadata marks as written only by the system (``system_set``)."""
        return frozenset(k for k, f in self.field_specs.items() if f.system_set)

    @property
    def require_reason(self) -> bool:
        return self.spec.require_reason

    @cached_property
    def summary_keys(self) -> tuple[str, ...]:
        """What a record is at a glance: the type's summary fields, else its list columns."""
        return self.spec.summary_fields or tuple(
            k for k, f in self.field_specs.items() if f.in_list
        )

    def alarms(self, data: dict[str, Any]) -> list[str]:
        """The computed fields of ``data`` at their alarm value (an out-of-specification
        flag that is on), in field order."""
        return [
            k
            for k, f in self.field_specs.items()
            if isinstance(f, ComputedField) and f.raises_alarm(data.get(k))
        ]

    def roles_for(self, action: str) -> list[str]:
        return list(self.spec.permissions.roles_for(action))

    def allows(self, principal: Principal, action: str) -> bool:
        """May ``principal`` ``read``, ``create`` or ``edit`` records of this type?"""
        return principal.has_any_role(self.roles_for(action))

    def render_title(self, number: str, data: dict[str, Any]) -> str:
        template = self.spec.title or "{number}"

        def value(match: re.Match[str]) -> str:
            key = match.group(1)
            if key == "number":
                return number
            found = data.get(key)
            return "" if found is None else str(found)

        return " ".join(TITLE_PLACEHOLDER.sub(value, template).split())[:500]

    def published_schema(self) -> dict[str, Any]:
        """The JSON Schema of a record's data, as published by ``GET /types/{type}``."""
        schema = dict(self.input_schema)
        properties = dict(schema["properties"])
        for key, spec in self.field_specs.items():
            if isinstance(spec, ComputedField):
                properties[key] = {"readOnly": True, "description": spec.label}
        schema["properties"] = properties
        return schema


def input_schema(spec: ObjectTypeSpec) -> dict[str, Any]:
    """The JSON Schema that a record's submitted data must satisfy."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for fspec in spec.fields:
        if not isinstance(fspec, InputFieldSpec):
            continue
        value_schema = field_value_schema(fspec)
        # Optional fields may be cleared with null.
        # A default expression may fill a required field: it is checked once filled.
        must_be_given = fspec.required and not fspec.default_expression
        properties[fspec.key] = (
            value_schema if must_be_given else {"anyOf": [value_schema, {"type": "null"}]}
        )
        if must_be_given:
            required.append(fspec.key)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": spec.label,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def compile_model(key: str, version: int, stored: dict[str, Any]) -> TypeModel:
    """Build the model of one version (callers cache it: see metadata.types).

    The definition is decoded into its struct here, once per version. A version
    is compiled as stored: one published by an earlier, less strict release is
    read leniently (see metadata.spec.stored), so its records stay readable."""
    definition = stored_document(stored, ObjectTypeSpec)
    spec = decode(definition, ObjectTypeSpec)
    field_specs = {f.key: f for f in spec.fields}
    names = CONTEXT_NAMES | set(field_specs)
    functions = RELATED_FUNCTIONS
    computed = tuple(
        (f.key, compile_expression(f.expression, names=names))
        for f in spec.fields
        if isinstance(f, ComputedField)
    )
    required_if = {
        f.key: compile_expression(f.required_if, names=names) for f in spec.fields if f.required_if
    }
    rules = tuple(
        (
            compile_expression(rule.expression, names=names, functions=functions),
            rule.message,
            rule.fields,
        )
        for rule in spec.rules
    )
    default_expressions = {
        f.key: compile_expression(f.default_expression, names=names, functions=functions)
        for f in spec.fields
        if f.default_expression
    }
    return TypeModel(
        key=key,
        version=version,
        definition=definition,
        fields={f["key"]: f for f in definition["fields"]},
        spec=spec,
        field_specs=field_specs,
        input_schema=input_schema(spec),
        computed=computed,
        required_if=required_if,
        rules=rules,
        default_expressions=default_expressions,
    )
