"""The example templates in docs/printing.md publish and print as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.tables import record
from labledger.identity.principal import SYSTEM
from labledger.printing.render import print_labels, print_record
from labledger.records.service import create_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import SignatureInput, run_transition
from tests.conftest import TEST_PASSWORD
from tests.test_printing import publish_template
from tests.test_printing_render import decode_code128

DOC = Path(__file__).resolve().parent.parent / "docs" / "printing.md"

SAMPLE_FLOW = {
    "key": "sample_flow",
    "label": "Sample flow",
    "states": [
        {"key": "registered", "label": "Registered", "initial": True},
        {"key": "released", "label": "Released", "final": True, "editable": "none"},
    ],
    "transitions": [
        {
            "key": "release",
            "label": "Release",
            "from": ["registered"],
            "to": "released",
            "roles": ["qa"],
            "signature": {"meaning": "Approved for release"},
        }
    ],
}


def _type(key: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "label": key.title(),
        "plural": key.title() + "s",
        "numbering": key[:3].upper() + "-{YYYY}-{#####}",
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": fields,
        **extra,
    }


def _number(key: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": key.replace("_", " ").capitalize(), "type": "decimal", **extra}


def doc_example(heading: str) -> dict[str, Any]:
    """The definition an example section of the documentation shows, in its three parts."""
    section = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1].split("\n## ")[0]
    blocks = dict(re.findall(r"```(json|css|jinja)\n(.*?)```", section, re.S))
    return {**json.loads(blocks["json"]), "style": blocks["css"], "template": blocks["jinja"]}


@pytest.fixture
def lab(db, make_person, publish):
    people = {"analyst": make_person("alice", "analyst"), "qa": make_person("quinn", "qa")}
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, SAMPLE_FLOW)
    publish(
        _type(
            "sample",
            [
                {"key": "sample_type", "label": "Sample type", "type": "text"},
                {"key": "collected_at", "label": "Collected at", "type": "datetime"},
            ],
            workflow="sample_flow",
        )
    )
    publish(
        _type(
            "result",
            [
                {"key": "sample", "label": "Sample", "type": "reference", "to": "sample"},
                {"key": "analysis", "label": "Analysis", "type": "text"},
                _number("value", precision=2),
                {"key": "unit", "label": "Unit", "type": "text"},
                _number("spec_low", precision=1),
                _number("spec_high", precision=1),
                _number("warn_low"),
                _number("warn_high"),
                {
                    "key": "out_of_spec",
                    "label": "Out of specification",
                    "type": "computed",
                    "result_type": "boolean",
                    "expression": "value < spec_low or value > spec_high",
                },
                {
                    "key": "in_warning",
                    "label": "In warning band",
                    "type": "computed",
                    "result_type": "boolean",
                    "expression": "value < warn_low or value > warn_high",
                },
            ],
        )
    )
    return people


def _create(db, person, type_key: str, data: dict[str, Any]) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, person.principal, type_key, data)


def test_certificate_example(db, lab):
    assert publish_template(db, doc_example("Example: certificate of analysis")) == 1
    sample = _create(
        db,
        lab["analyst"],
        "sample",
        {"sample_type": "Water", "collected_at": "2026-03-02T08:15:00Z"},
    )
    limits = {"unit": "mg/L", "spec_low": 1, "spec_high": 5, "warn_low": 1.5, "warn_high": 4.5}
    for analysis, value in (("Nitrate", 3.2), ("Chloride", 7.25), ("Sulfate", 4.75)):
        _create(
            db,
            lab["analyst"],
            "result",
            {"sample": sample["id"], "analysis": analysis, "value": value, **limits},
        )
    with db.read() as conn:
        draft = print_record(conn, SYSTEM, "sample", sample["id"], "certificate_of_analysis")
    assert "Not released: for information only" in draft.pages[0][0]
    run_transition(
        db,
        lab["qa"].principal,
        "sample",
        sample["id"],
        "release",
        signature=SignatureInput("quinn", TEST_PASSWORD),
    )
    with db.read() as conn:
        sheet = print_record(conn, SYSTEM, "sample", sample["id"], "certificate_of_analysis")
    html = str(sheet.pages[0][0])
    assert (sheet.width_mm, sheet.height_mm, sheet.margin_mm) == (210, 297, 15)
    assert ".coa table { width: 100%;" in sheet.style
    assert "Not released" not in html and "Status: Released" in html
    assert "Collected 2026-03-02 08:15:00 UTC" in html
    rows = [
        [
            re.sub(r"\s+", " ", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>")[1], re.S)
    ]
    spec = "1.0 \N{EN DASH} 5.0"
    assert rows == [
        ["Nitrate", "3.20", "mg/L", spec, "", ""],
        ["Chloride", "7.25", "mg/L", spec, "Out of specification", ""],
        ["Sulfate", "4.75", "mg/L", spec, "Warning", ""],
    ], "results have no workflow here, so no status"
    signature = re.search(r'<section class="signatures">.*?<p>(.*?)</p>', html, re.S).group(1)
    assert re.match(
        r"Quinn Tester · Approved for release · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s*$", signature
    )


def test_sample_label_example(db, lab):
    assert publish_template(db, doc_example("Example: sample label")) == 1
    samples = [
        _create(
            db,
            lab["analyst"],
            "sample",
            {"sample_type": "Soil", "collected_at": "2026-03-02T08:15:00Z"},
        )
        for _ in range(3)
    ]
    with db.read() as conn:
        sheet = print_labels(
            conn, SYSTEM, "sample", [s["id"] for s in samples], "sample_label", skip=1
        )
        numbers = conn.execute(select(record.c.number).order_by(record.c.id)).scalars().all()
    assert (sheet.columns, sheet.rows, sheet.gap_mm, sheet.row_gap_mm) == (3, 7, 2.5, 0)
    labels = sheet.pages[0]
    assert labels[0] is None and len(labels) == 4
    for html, number in zip(labels[1:], numbers, strict=True):
        assert f'<div class="number">{number}</div>' in html
        assert "<div>Soil</div>" in html and "<div>2026-03-02 08:15</div>" in html
        code = re.search(r'<svg[^>]*class="code128".*?</svg>', html, re.S).group(0)
        assert decode_code128(code) == number and "<text" not in code
        assert 'class="qr"><title>' + number in html
