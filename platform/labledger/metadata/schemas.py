"""The meta-model's JSON Schemas (files in ``metadata/``), loaded and compiled once.

Each validator first asks the compiled yes-or-no check of ``quickcheck``;
only a value it refuses is walked by jsonschema, whose errors name their
JSON paths. Valid definitions, nearly all of them, are so checked quickly.
The schemas themselves are shipped files, checked against JSON Schema by the
test suite rather than by every process that starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from labledger.metadata.patterns import PatternValidator
from labledger.metadata.quickcheck import Unsupported, compile_check
from labledger.resources import data_path

SUFFIX = ".schema.json"


@cache
def meta_schema(name: str) -> dict[str, Any]:
    """The schema ``metadata/<name>.schema.json``."""
    with data_path("metadata", f"{name}{SUFFIX}").open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def schema_names() -> tuple[str, ...]:
    """The names of the schemas in ``metadata/``: ``bundle``, ``object_type``, ..."""
    files = data_path("metadata").glob(f"*{SUFFIX}")
    return tuple(sorted(path.name.removesuffix(SUFFIX) for path in files))


@dataclass(frozen=True)
class MetaValidator:
    """jsonschema's validator behind the compiled check (None: the schema has none)."""

    validator: Any
    check: Callable[[Any], bool] | None

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self.check is not None and self.check(instance):
            return iter(())
        errors: Iterator[ValidationError] = self.validator.iter_errors(instance)
        return errors


@cache
def _resources() -> dict[str, dict[str, Any]]:
    """Every schema in ``metadata/`` by its ``$id``."""
    return {meta_schema(name)["$id"]: meta_schema(name) for name in schema_names()}


@cache
def meta_validator(name: str, pointer: str = "") -> MetaValidator:
    """The validator of ``metadata/<name>.schema.json``, or of its part at ``pointer``
    (e.g. ``#/$defs/demo``); its ``$ref``s may name the other schemas in ``metadata/``."""
    resources = _resources()
    registry: Registry[Any] = Registry().with_resources(
        (uri, DRAFT202012.create_resource(_without_dialect(schema)))
        for uri, schema in resources.items()
    )
    uri = meta_schema(name)["$id"] + pointer
    validator = PatternValidator({"$ref": uri}, registry=registry)
    try:
        check = compile_check(uri, resources)
    except Unsupported:
        check = None
    return MetaValidator(validator, check)


def _without_dialect(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` less its ``$schema``: jsonschema, entering a schema that names its
    dialect, swaps in that dialect's own validator, whose ``pattern`` runs Python's
    ``re`` instead of RE2 (and lets ``$`` match before a final newline)."""
    return {key: value for key, value in schema.items() if key != "$schema"}


#: The name a schema built at run time is compiled under (it refers to no other).
_RUNTIME_URI = "urn:labledger:runtime-schema"


def runtime_validator(schema: dict[str, Any]) -> MetaValidator:
    """The validator of a schema built at run time, such as a type's record input:
    jsonschema behind the compiled check, as for the meta-model's schemas, so a
    valid record (nearly every one) is checked without walking the schema."""
    try:
        check = compile_check(_RUNTIME_URI, {_RUNTIME_URI: schema})
    except Unsupported:
        check = None
    return MetaValidator(PatternValidator(schema), check)
