"""Print templates travel in configuration bundles with the types they print."""

from __future__ import annotations

import json

import pytest

from labledger.bundles.export import export_bundle
from labledger.bundles.importer import apply_bundle
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from tests.test_printing import (
    certificate_template,
    label_template,
    publish_template,
    publish_types,
)


@pytest.fixture
def types(db, publish):
    publish_types(db, publish)


def _encode(bundle) -> bytes:
    return json.dumps(bundle).encode()


def test_export_carries_the_templates_of_the_exported_types(db, types):
    publish_template(db, label_template())  # prints batches
    publish_template(db, certificate_template(key="measurement_sheet", type="measurement"))
    with db.read() as conn:
        everything = export_bundle(conn, SYSTEM)
        batches_only = export_bundle(conn, SYSTEM, types=["batch"])
    assert [(t["key"], t["type"]) for t in everything["print_templates"]] == [
        (label_template()["key"], "batch"),
        ("measurement_sheet", "measurement"),
    ]
    assert [t["key"] for t in batches_only["print_templates"]] == [label_template()["key"]]


def test_import_publishes_templates_and_reports_their_paths(db, types):
    with db.read() as conn:
        bundle = export_bundle(conn, SYSTEM)
    bundle["print_templates"] = [label_template()]
    apply_bundle(db, SYSTEM, _encode(bundle))
    with db.read() as conn:
        assert versions.current(conn, "print_template", label_template()["key"]) is not None
    bundle["print_templates"] = [label_template(template="{% for %}")]
    with pytest.raises(ValidationFailed) as caught:
        apply_bundle(db, SYSTEM, _encode(bundle), force=True)
    assert any(e.field.startswith("print_templates[0].template") for e in caught.value.errors)
