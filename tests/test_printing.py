"""Print templates as configuration: validation, versions, audit, permissions.

The definitions and fixtures here are shared by the other printing tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.tables import audit_event, config_version
from labledger.errors import Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import CONFIGURE, SYSTEM
from labledger.metadata import versions
from labledger.printing.templates import (
    KIND,
    list_print_templates,
    publish_print_template,
    read_print_template,
)
from labledger.records.service import create_record
from tests.definitions import acting, add_roles, batch_type, measurement_type, unchanged

LABEL_SOURCE = """<div class="number">{{ record.number }}</div>
{{ code128(record.number) }}
<div class="qr">{{ qr(record.number) }}</div>
<p class="product">{{ field("product").display }}</p>"""

CERTIFICATE_SOURCE = """<h1>Certificate {{ record.number }}</h1>
<p class="title">{{ record.title }}</p>
<table>
{% for m in referencing("measurement", "batch") %}
<tr class="result"><td>{{ m.number }}</td>
<td>{{ m.field.value.display }} {{ m.field.value.unit }}</td>
<td>{{ "OUT" if m.field.out_of_limits.value else "ok" }}</td></tr>
{% endfor %}
</table>"""


def label_template(**overrides: Any) -> dict[str, Any]:
    """Three columns of seven 63.5 x 38.1 mm labels on A4 (a common label sheet)."""
    definition: dict[str, Any] = {
        "key": "batch_label",
        "label": "Batch label",
        "type": "batch",
        "kind": "label",
        "page": {"size": "A4", "margin_mm": 7},
        "labels": {"width_mm": 63.5, "height_mm": 38.1, "columns": 3, "rows": 7, "gap_mm": 2.5},
        "template": LABEL_SOURCE,
    }
    definition.update(overrides)
    return definition


def certificate_template(**overrides: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "key": "batch_certificate",
        "label": "Batch certificate",
        "type": "batch",
        "kind": "document",
        "page": {"size": "A4", "orientation": "portrait"},
        "template": CERTIFICATE_SOURCE,
    }
    definition.update(overrides)
    return definition


def publish_types(db, publish) -> None:
    """batch (readable by everyone) and measurement (analysts and reviewers only)."""
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())


@pytest.fixture
def types(db, publish):
    publish_types(db, publish)


def make_batch(db, code: str, product: str = "Aspirin") -> dict[str, Any]:
    with db.write() as conn:
        return create_record(
            conn,
            acting("alice", "analyst"),
            "batch",
            {"code": code, "product": product},
        )


def publish_template(db, definition: dict[str, Any]) -> int:
    with db.write() as conn:
        return publish_print_template(conn, SYSTEM, definition).version


def store_unchecked(db, definition: dict[str, Any]) -> None:
    """Store a template without the publish checks (as a tampered database would hold it)."""
    with db.write() as conn:
        versions.store(conn, KIND, definition["key"], definition, "intruder")


def _errors(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_publish_creates_immutable_versions_and_audits(db, types):
    assert publish_template(db, label_template()) == 1
    assert publish_template(db, label_template()) == 1, "unchanged: no new version"
    assert publish_template(db, label_template(label="Batch label v2")) == 2
    with db.read() as conn:
        stored = versions.all_versions(conn, KIND, "batch_label")
        events = conn.execute(
            select(audit_event)
            .where(audit_event.c.action == "config.publish")
            .order_by(audit_event.c.seq)
        ).mappings()
        publishes = [e for e in events if e["details"]["kind"] == KIND]
    assert [v["version"] for v in stored] == [1, 2]
    assert stored[0]["body"]["label"] == "Batch label", "the first version is kept as it was"
    assert [e["config_version"] for e in publishes] == [1, 2]
    assert publishes[1]["details"]["key"] == "batch_label"
    assert publishes[1]["changes"]["changed"]["label"] == {
        "old": "Batch label",
        "new": "Batch label v2",
    }


def test_publishing_needs_configure(db, types):
    with unchanged(db), db.write() as conn, pytest.raises(Forbidden):
        publish_print_template(conn, acting("alice", "analyst"), label_template())
    with db.write() as conn:
        publish_print_template(
            conn, acting("cora", "admin", permissions=(CONFIGURE,)), label_template()
        )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"template": "<p>\n{{ record.number }\n</p>"}, "template", "line 2: unexpected '}'"),
        (
            {"template": "<p>\n\n{% for x in fields %}{{ x.label }}"},
            "template",
            "line 3: Unexpected end of template",
        ),
        ({"template": "{{ record.number|safe }}"}, "template", "there is no filter 'safe'"),
        ({"template": "\n{{ config }}"}, "template", "line 2: unknown name 'config'"),
        ({"template": "{% include 'other.html' %}"}, "template", "cannot include, import"),
        (
            {"template": "{% autoescape false %}{{ record.data.code }}{% endautoescape %}"},
            "template",
            "autoescaping cannot be switched off",
        ),
        ({"template": "<script>alert(1)</script>"}, "template", "scripts do not run"),
        ({"type": "nothing"}, "type", "there is no object type 'nothing'"),
        ({"kind": "poster"}, "kind", "must be one of"),
        (
            {"labels": {"width_mm": 70, "height_mm": 38.1, "columns": 3, "rows": 7}},
            "labels.columns",
            "3 columns of 70 mm with 0 mm gaps need 210 mm; the page has 196 mm",
        ),
        (
            {"page": {"size": "custom", "width_mm": 50}},
            "page.height_mm",
            "is required for a custom page size",
        ),
        ({"page": {"size": "A4", "width_mm": 50}}, "page.width_mm", "only for page size 'custom'"),
    ],
)
def test_invalid_templates_refused_with_located_messages(db, types, change, field, message):
    with unchanged(db), pytest.raises(ValidationFailed) as exc:
        publish_template(db, label_template(**change))
    assert message in _errors(exc)[field]
    with db.read() as conn:
        assert versions.keys(conn, KIND) == []


def test_label_templates_need_label_settings(db, types):
    definition = label_template()
    del definition["labels"]
    with pytest.raises(ValidationFailed) as exc:
        publish_template(db, definition)
    assert _errors(exc) == {"labels": "is required"}


def test_document_templates_take_no_label_settings(db, types):
    definition = certificate_template(labels=label_template()["labels"])
    with pytest.raises(ValidationFailed) as exc:
        publish_template(db, definition)
    assert _errors(exc) == {"labels": "only label templates have label settings"}


def test_every_problem_is_reported_at_once(db, types):
    source = "{{ record._secret }}\n{{ cycler }}\n<script>"
    with pytest.raises(ValidationFailed) as exc:
        publish_template(db, label_template(template=source, type="nothing"))
    messages = [f"{e.field}: {e.message}" for e in exc.value.errors]
    assert messages[0] == "type: there is no object type 'nothing'"
    assert [m.split(":")[1].strip() for m in messages[1:]] == ["line 1", "line 2", "line 3"]


def test_bundle_paths_are_prefixed(db, types):
    """An importer passes the item's JSON path, so problems point into the bundle."""
    with db.write() as conn, pytest.raises(ValidationFailed) as exc:
        publish_print_template(
            conn, SYSTEM, label_template(template="{{ x }}"), path_prefix="print_templates[0]"
        )
    assert list(_errors(exc)) == ["print_templates[0].template"]


def test_read_and_list_follow_the_type_read_permission(db, types):
    publish_template(db, label_template())
    publish_template(
        db,
        certificate_template(
            key="measurement_sheet", type="measurement", template="{{ record.number }}"
        ),
    )
    guest = acting("gus", "guest")
    analyst = acting("alice", "analyst")
    with db.read() as conn:
        assert [t["key"] for t in list_print_templates(conn, guest)] == ["batch_label"]
        assert [t["key"] for t in list_print_templates(conn, analyst)] == [
            "batch_label",
            "measurement_sheet",
        ]
        assert [t["key"] for t in list_print_templates(conn, analyst, "measurement")] == [
            "measurement_sheet"
        ]
        assert read_print_template(conn, analyst, "measurement_sheet")["version"] == 1
        with pytest.raises(Forbidden):
            read_print_template(conn, guest, "measurement_sheet")
        with pytest.raises(NotFound):
            read_print_template(conn, analyst, "nothing")
        assert conn.execute(select(config_version.c.kind)).scalars().all().count(KIND) == 2
