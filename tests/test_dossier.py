"""The record dossier service: a complete, readable copy of a record for one reader."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labledger import __version__
from labledger.audit.results import record_result
from labledger.dossier.assemble import MAX_DEPTH, record_dossier
from labledger.dossier.related import MAX_RELATED
from labledger.errors import Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.printing.templates import publish_print_template
from labledger.records.service import create_record, load_row
from tests.definitions import acting, add_roles, batch_type, measurement_type
from tests.dossier_fixtures import signed_lot
from tests.web.record_fixtures import create, make_lab


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _dossier(db, actor, type_key, record_id, **kwargs):
    with db.read() as conn:
        return record_dossier(conn, actor, type_key, record_id, **kwargs)


@pytest.mark.requirement("REQ-DOS-01", "REQ-DOS-02")
def test_fields_are_shown_as_people_read_them_and_marked_when_modified(db, lab):
    made = signed_lot(db, lab)
    dossier = _dossier(db, lab.qa.principal, "lot", made.lot["id"])
    fields = {f.key: f for f in dossier.record.fields}
    assert fields["product"].value == "Aspirin" and fields["product"].display == "Aspirin"
    assert fields["quantity"].unit == "kg" and fields["quantity"].display == "20"
    assert fields["product"].modified, "corrected after its first entry"
    update = next(e for e in dossier.record.audit if e.action == "record.update")
    assert fields["product"].changed_in == [update.seq]
    assert update.reason == "Typing error"
    assert [(c.field, c.old, c.new) for c in update.changes] == [("product", "Aspirn", "Aspirin")]
    assert not fields["notes"].modified, "entered once, into an empty field"
    assert not fields["code"].modified and fields["code"].changed_in == []


@pytest.mark.requirement("REQ-DOS-01")
def test_signatures_carry_the_manifest_and_show_a_later_change(db, lab):
    made = signed_lot(db, lab)
    dossier = _dossier(db, lab.qa.principal, "lot", made.lot["id"])
    [signature] = dossier.record.signatures
    assert signature.printed_name == "Quinn Tester" and signature.signer == "quinn"
    assert signature.meaning == "Approved for release"
    assert signature.transition == "approve" and signature.transition_label == "Approve"
    assert signature.signed_at.utcoffset() is not None, "the time carries its zone"
    assert signature.record_version == 4 and len(signature.content_hash) == 64
    assert signature.status == "earlier_version", "notes were added after signing"
    assert "earlier version" in signature.status_text


@pytest.mark.requirement("REQ-DOS-01")
def test_the_record_is_proved_and_stamped(db, lab):
    made = signed_lot(db, lab)
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    dossier = _dossier(db, lab.qa.principal, "lot", made.lot["id"], now=now)
    with db.read() as conn:
        row = load_row(conn, "lot", made.lot["id"])
    assert dossier.record.content_hash == record_result(row)
    assert dossier.made_at == now and dossier.made_by == "quinn"
    assert dossier.platform_version == __version__
    assert len(dossier.configuration_hash) == 64
    actions = [e.action for e in dossier.record.audit]
    assert actions[0] == "record.create" and "record.sign" in actions
    assert actions[-1] == "record.update"
    assert [e.seq for e in dossier.record.audit] == sorted(e.seq for e in dossier.record.audit)
    with db.write() as conn:
        publish_print_template(
            conn,
            SYSTEM,
            {
                "key": "lot_sheet",
                "label": "Lot",
                "type": "lot",
                "kind": "document",
                "template": "x",
            },
        )
    later = _dossier(db, lab.qa.principal, "lot", made.lot["id"], now=now)
    assert later.configuration_hash != dossier.configuration_hash, "another configuration"
    assert later.record == dossier.record, "the same record"


def test_related_records_to_the_depth_asked(db, lab):
    made = signed_lot(db, lab)
    dossier = _dossier(db, lab.qa.principal, "lot", made.lot["id"])
    assert [(r.relation, r.of, r.field, r.record.number) for r in dossier.related] == [
        ("referenced_by", made.lot["number"], "lot", result["number"]) for result in made.results
    ]
    ph = dossier.related[1].record
    flag = next(f for f in ph.fields if f.key == "out_of_spec")
    assert flag.value is True and flag.flag and flag.display == "Yes"
    value = next(f for f in ph.fields if f.key == "value")
    assert value.display == "7.25" and value.unit == "mg/L"
    assert next(f for f in ph.fields if f.key == "lot").display == made.lot["number"]
    assert _dossier(db, lab.qa.principal, "lot", made.lot["id"], depth=0).related == []
    # From a result, depth 2 reaches the lot and, through it, the other result.
    deep = _dossier(db, lab.qa.principal, "result", made.results[0]["id"], depth=2)
    assert [(r.depth, r.relation, r.record.number) for r in deep.related] == [
        (1, "references", made.lot["number"]),
        (2, "referenced_by", made.results[1]["number"]),
    ]


@pytest.mark.parametrize("depth", [-1, MAX_DEPTH + 1, 100])
def test_depth_is_bounded(db, lab, depth):
    made = signed_lot(db, lab)
    with pytest.raises(ValidationFailed) as refused:
        _dossier(db, lab.qa.principal, "lot", made.lot["id"], depth=depth)
    assert refused.value.errors[0].field == "depth"


@pytest.mark.requirement("REQ-DOS-01")
def test_related_records_the_reader_may_not_read_are_withheld(db, publish):
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    analyst = acting("alice", "analyst")
    with db.write() as conn:
        batch = create_record(conn, analyst, "batch", {"code": "B-1"})
        for name in ("Assay", "Water"):
            create_record(conn, analyst, "measurement", {"name": name, "batch": batch["id"]})
    reader = acting("rita", "reader")
    dossier = _dossier(db, reader, "batch", batch["id"])
    assert dossier.related == []
    [withheld] = dossier.withheld
    assert (withheld.relation, withheld.type, withheld.field, withheld.count) == (
        "referenced_by",
        "measurement",
        "batch",
        2,
    )
    seen = _dossier(db, analyst, "batch", batch["id"])
    assert len(seen.related) == 2 and seen.withheld == []


def test_unknown_and_unreadable_records_are_refused(db, publish):
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        made = create_record(conn, acting("alice", "analyst"), "measurement", {"name": "Assay"})
    with pytest.raises(Forbidden):
        _dossier(db, acting("rita", "reader"), "measurement", made["id"])
    with pytest.raises(NotFound):
        _dossier(db, SYSTEM, "measurement", made["id"] + 1000)


def test_attachments_are_listed_with_their_fingerprint(db, lab, client):
    lot = create(db, lab.analyst, "lot", {"code": "L-9"})
    uploaded = client.post(
        "/api/v1/attachments?filename=coa.pdf",
        content=b"%PDF-1.4 certificate",
        headers={**lab.analyst.headers, "Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["id"]
    patched = client.patch(
        f"/api/v1/records/lot/{lot['id']}",
        json={"data": {"certificate": file_id}, "reason": "certificate received"},
        headers={**lab.analyst.headers, "If-Match": "1"},
    )
    assert patched.status_code == 200, patched.text
    dossier = _dossier(db, lab.qa.principal, "lot", lot["id"])
    [file] = dossier.record.attachments
    assert (file.field, file.filename, file.content_type, file.size) == (
        "certificate",
        "coa.pdf",
        "application/pdf",
        len(b"%PDF-1.4 certificate"),
    )
    assert file.sha256 == uploaded.json()["sha256"]
    shown = next(f for f in dossier.record.fields if f.key == "certificate")
    assert shown.display == "coa.pdf"


def test_related_records_beyond_the_limit_are_counted_not_shown(db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-5"})
    for i in range(MAX_RELATED + 2):
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": f"T{i}", "value": 2.5})
    dossier = _dossier(db, lab.qa.principal, "lot", lot["id"])
    assert len(dossier.related) == MAX_RELATED
    assert dossier.not_shown == 2
    assert [r.record.fields[1].value for r in dossier.related][:2] == ["T0", "T1"]
