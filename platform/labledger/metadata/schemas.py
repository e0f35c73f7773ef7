"""The meta-model's JSON Schemas (files in ``metadata/``), loaded once."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from labledger.resources import data_path


@cache
def meta_schema(name: str) -> dict[str, Any]:
    """The schema ``metadata/<name>.schema.json``."""
    with data_path("metadata", f"{name}.schema.json").open(encoding="utf-8") as handle:
        return json.load(handle)


@cache
def meta_validator(name: str) -> Draft202012Validator:
    schema = meta_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
