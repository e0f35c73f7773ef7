"""The compiled yes-or-no schema check agrees with jsonschema, valid or broken.

Each definition the tests and seeds use is checked as it is and then broken
in every place in turn (a member removed, an unknown member added, a value
replaced by one of every JSON kind): the fast check must accept exactly what
jsonschema accepts, or a bad definition could slip through unexplained.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from labledger.metadata.model import compile_model
from labledger.metadata.quickcheck import Unsupported, compile_check, equal
from labledger.metadata.schemas import meta_schema, meta_validator, schema_names
from labledger.resources import data_path
from tests.definitions import batch_type, measurement_type
from tests.test_bundles import REVIEW_FLOW, starter_bundle
from tests.test_integration_mappings import batch_mapping, results_mapping
from tests.test_printing import certificate_template, label_template
from tests.workflow_definitions import JOB_FLOW

#: One value of every JSON kind, and the edge cases of the type and limit checks.
REPLACEMENTS: list[Any] = [None, True, 0, 1.0, 2.5, -1, "", "X y", [], {}, ["x"]]

CORPUS: dict[str, list[Any]] = {
    "object_type": [batch_type(), measurement_type()],
    "workflow": [REVIEW_FLOW, JOB_FLOW],
    "mapping": [
        results_mapping(),
        batch_mapping(),
        results_mapping(constants={"method": "gc"}, match={"source": "Id", "by": "number"}),
    ],
    "print_template": [label_template(), certificate_template()],
    "role": [{"key": "qa", "label": "QA", "permissions": ["read_audit", "configure"]}],
}


def _variants(value: Any) -> Iterator[Any]:
    """``value`` broken in one place: each node replaced, each member removed or added to."""
    yield from REPLACEMENTS
    if isinstance(value, dict):
        yield {**value, "unknown_member": 1}
        for name, item in value.items():
            yield {k: v for k, v in value.items() if k != name}
            for variant in _variants(item):
                yield {**value, name: variant}
    elif isinstance(value, list):
        yield [*value, value[0]] if value else [None]
        for index, item in enumerate(value):
            for variant in _variants(item):
                yield [*value[:index], variant, *value[index + 1 :]]


def _agree(name: str, value: Any) -> None:
    validator = meta_validator(name)
    assert validator.check is not None
    expected = validator.validator.is_valid(value)
    assert validator.check(value) is expected, json.dumps(value)[:500]


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_check_agrees_with_jsonschema_on_every_broken_variant(name):
    for definition in CORPUS[name]:
        assert meta_validator(name).check(definition)
        for variant in _variants(copy.deepcopy(definition)):
            _agree(name, variant)


def test_the_check_agrees_on_whole_bundles_and_the_shipped_seeds():
    bundle = starter_bundle()
    bundle["mappings"] = [results_mapping()]
    _agree("bundle", bundle)
    for path in sorted(data_path("seeds").glob("*/bundle.json")):
        seed = json.loads(path.read_text(encoding="utf-8"))
        _agree("bundle", seed)
        seed["types"][0]["fields"][0]["type"] = "colour"
        _agree("bundle", seed)
    for variant in _variants({key: bundle[key] for key in ("format", "name", "roles", "records")}):
        _agree("bundle", variant)


@pytest.mark.parametrize("name", schema_names())
def test_every_shipped_schema_is_valid_json_schema(name):
    Draft202012Validator.check_schema(meta_schema(name))


def test_every_shipped_schema_is_compiled():
    """A keyword the compiler does not know would make that schema slow: add it there."""
    assert [name for name in schema_names() if meta_validator(name).check is None] == []


def test_a_schema_with_an_unknown_keyword_is_left_to_jsonschema():
    resources = {"urn:x": {"$id": "urn:x", "oneOf": [{"type": "string"}]}}
    with pytest.raises(Unsupported):
        compile_check("urn:x", resources)


def test_json_equality_tells_booleans_from_numbers():
    assert equal(1, 1.0) and equal([1, {"a": True}], [1.0, {"a": True}])
    assert not equal(True, 1) and not equal(0, False) and not equal({"a": 1}, {"a": True})
    assert not equal("1", 1) and not equal([1], [1, 1])


def test_the_record_input_check_agrees_with_jsonschema():
    """Records are checked by the compiled check first: it must refuse every bad value."""
    valid = {
        "name": "m1",
        "batch": 3,
        "value": 2.5,
        "replicates": 2,
        "method": "hplc",
        "tags": ["a"],
        "measured_on": "2026-01-02",
        "analyst": "ann",
    }
    for definition in (batch_type(), measurement_type()):
        model = compile_model(definition["key"], 1, definition)
        data = {k: v for k, v in valid.items() if k in model.input_schema["properties"]}
        assert model.validator.check is not None
        for variant in [data, *_variants(data)]:
            expected = model.validator.validator.is_valid(variant)
            assert model.validator.check(variant) is expected, json.dumps(variant)
