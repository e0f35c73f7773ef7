"""Printouts mark values changed after their first entry (EU Annex 11 §8.2), whatever
the template: the platform says so on every page, and templates may mark them inline."""

from __future__ import annotations

import pytest

from labledger.identity.principal import SYSTEM
from labledger.printing.render import print_labels, print_record
from labledger.printing.templates import list_print_templates, publish_print_template
from labledger.records.service import update_record
from tests.dossier_fixtures import signed_lot
from tests.test_seed_lims_rules import Lims
from tests.web.record_fixtures import create, make_lab

#: A template written without knowing about markers: it shows the product and results.
PLAIN = """<p class="product">{{ field("product").display }}</p>
{% for r in referencing("result", "lot") %}
<p class="result">{{ r.field.value.display }}</p>
{% endfor %}"""
#: A template marking modified values inline, as documented.
INLINE = """{% for f in fields %}<p>{{ f.label }}: {{ f.display }}
{%- if f.modified %} <em>modified (audit {{ f.changed_in | join(", ") }})</em>{% endif %}</p>
{% endfor %}"""


def _publish(db, key: str, source: str) -> None:
    with db.write() as conn:
        publish_print_template(
            conn,
            SYSTEM,
            {"key": key, "label": key, "type": "lot", "kind": "document", "template": source},
        )


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


@pytest.mark.requirement("REQ-DOS-02")
def test_every_page_names_the_modified_values_whatever_the_template(db, lab, client):
    made = signed_lot(db, lab)
    _publish(db, "plain", PLAIN)
    with db.read() as conn:
        sheet = print_record(conn, lab.qa.principal, "lot", made.lot["id"], "plain")
    [notice] = sheet.notices
    assert notice.startswith(f"{made.lot['number']}: values marked modified")
    assert "Product (audit event " in notice
    assert "Notes" not in notice, "a first entry into an empty field is not a change"
    page = client.get(
        f"/api/v1/records/lot/{made.lot['id']}/print/plain", headers=lab.qa.headers
    ).text
    assert '<p class="platform-notice">' in page and "Product (audit event " in page


def test_values_of_records_the_template_reads_are_covered_too(db, lab):
    made = signed_lot(db, lab)
    with db.write() as conn:
        update_record(
            conn,
            lab.analyst.principal,
            "result",
            made.results[0]["id"],
            {"value": 2.75},
            expected_version=1,
            reason="Recalculated",
        )
    _publish(db, "plain", PLAIN)
    with db.read() as conn:
        sheet = print_record(conn, lab.qa.principal, "lot", made.lot["id"], "plain")
    assert any(
        n.startswith(f"{made.results[0]['number']}: values marked modified") and "Value" in n
        for n in sheet.notices
    ), sheet.notices


def test_templates_can_mark_modified_values_inline(db, lab):
    made = signed_lot(db, lab)
    _publish(db, "inline", INLINE)
    with db.read() as conn:
        html = str(
            print_record(conn, lab.qa.principal, "lot", made.lot["id"], "inline").pages[0][0]
        )
    assert "<p>Product: Aspirin <em>modified (audit " in html
    assert "<p>Notes: Label reprinted</p>" in html


def test_unchanged_records_carry_no_notice(db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-2", "product": "Aspirin"})
    _publish(db, "plain", PLAIN)
    with db.read() as conn:
        assert print_record(conn, lab.qa.principal, "lot", lot["id"], "plain").notices == ()


@pytest.mark.requirement("REQ-DOS-02")
def test_every_shipped_template_marks_a_modified_value(lims_db):
    lims = Lims(lims_db)
    sample_type = lims.number_of("sample_type", name="Surface water")
    sample = lims.create(
        "tina", "sample", {"sample_type": sample_type, "client": "A", "remarks": "Cloudy"}
    )
    lims.update("tina", sample, {"remarks": "Cloudy, cold"})
    with lims_db.read() as conn:
        shipped = list_print_templates(conn, SYSTEM, "sample")
        assert shipped, "the LIMS bundle ships print templates"
        for template in shipped:
            if template["kind"] == "label":
                sheet = print_labels(conn, SYSTEM, "sample", [sample["id"]], template["key"])
            else:
                sheet = print_record(conn, SYSTEM, "sample", sample["id"], template["key"])
            assert any(
                n.startswith(f"{sample['number']}: values marked modified") and "Remarks (" in n
                for n in sheet.notices
            ), (template["key"], sheet.notices)
