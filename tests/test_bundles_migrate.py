"""Records in bundles: they enter their workflow's initial state and never give a
system-set field, unless the import is a migration of history (``--migrate``, the
``migrate_records`` permission), which marks them and ends with a reconciliation."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select, text

from labledger.bundles.importer import apply_bundle, preview_bundle
from labledger.db.tables import audit_event, record
from labledger.errors import Forbidden, ValidationFailed
from labledger.identity.principal import CONFIGURE, MIGRATE_RECORDS, SYSTEM
from labledger.printing.render import print_labels, print_record
from labledger.records.validation import SYSTEM_SET_MESSAGE
from tests.conftest import TEST_PASSWORD
from tests.test_bundles import encode, snapshot, starter_bundle
from tests.test_bundles_cli import labledger  # noqa: F401 - the fixture
from tests.test_printing import certificate_template, label_template, publish_template
from tests.web.helpers import sign_in


def history_bundle() -> dict[str, Any]:
    """The starter bundle with a released batch that says who released it."""
    bundle = starter_bundle()
    bundle["types"][1]["fields"].append(
        {"key": "released_by", "label": "Released by", "type": "text", "system_set": True}
    )
    batch = bundle["records"][0]
    batch["state"] = "released"
    batch["data"]["released_by"] = "Legacy QA"
    return bundle


def _stored(db) -> dict[str, tuple[str | None, dict[str, Any]]]:
    with db.read() as conn:
        rows = conn.execute(select(record.c.type_key, record.c.state, record.c.data))
        return {row.type_key: (row.state, row.data) for row in rows}


def test_a_later_state_is_refused_unless_migrating_and_nothing_is_written(db):
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(history_bundle()))
    problems = {e.field: e.message for e in refused.value.errors}
    assert "'released' is a migration of history" in problems["records[0].state"]
    assert "--migrate" in problems["records[0].state"]
    assert snapshot(db) == before


def test_a_system_set_field_is_refused_unless_migrating(db):
    bundle = history_bundle()
    del bundle["records"][0]["state"]
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(bundle))
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("records[0].data.released_by", SYSTEM_SET_MESSAGE),
        ("records[1].data.batch.ref", "record 'batch-1' was not imported"),
    ]
    assert snapshot(db) == before


@pytest.mark.requirement("REQ-REC-04")
def test_a_migration_keeps_state_and_marks_each_record_with_the_source_hash(db):
    raw = encode(history_bundle())
    report = apply_bundle(db, SYSTEM, raw, migrate=True)
    assert _stored(db)["batch"] == (
        "released",
        {"code": "B-1", "product": "Aspirin", "released_by": "Legacy QA"},
    )
    with db.read() as conn:
        details = [
            row.details
            for row in conn.execute(
                select(audit_event.c.details).where(audit_event.c.action == "record.create")
            )
        ]
    sha256 = hashlib.sha256(raw).hexdigest()
    assert [d["migration"] for d in details] == [{"source_sha256": sha256}] * 2
    reconciliation = report.reconciliation
    assert reconciliation is not None and not reconciliation.mismatches
    assert reconciliation.counts == {"batch": {"released": 1}, "measurement": {"-": 1}}
    assert [(r["ref"], len(r["content_hash"])) for r in reconciliation.records] == [
        ("batch-1", 64),
        ("m-1", 64),
    ]
    assert "  reconciliation: 2 migrated record(s) read back" in report.lines()
    assert report.as_dict()["reconciliation"]["counts"] == reconciliation.counts


def test_a_migration_needs_its_own_permission(db, make_person):
    configurer = make_person("cora", "configurer", permissions=(CONFIGURE,))
    with pytest.raises(Forbidden, match="migrate_records"):
        apply_bundle(db, configurer.principal, encode(history_bundle()), migrate=True)
    with pytest.raises(Forbidden, match="migrate_records"):
        preview_bundle(db, configurer.principal, encode(history_bundle()), migrate=True)
    migrator = make_person("mia", "migrator", permissions=(CONFIGURE, MIGRATE_RECORDS))
    apply_bundle(db, migrator.principal, encode(history_bundle()), migrate=True)
    assert _stored(db)["batch"][0] == "released"


def _tamper_with_new_batches(db) -> None:
    """A database trigger that changes a batch's state behind the importer's back."""
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION tamper() RETURNS trigger AS $$ BEGIN "
                    "UPDATE record SET state = 'draft' WHERE id = NEW.id; RETURN NULL; END "
                    "$$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER tamper AFTER INSERT ON record FOR EACH ROW "
                    "WHEN (NEW.type_key = 'batch') EXECUTE FUNCTION tamper()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER tamper AFTER INSERT ON record WHEN NEW.type_key = 'batch' "
                    "BEGIN UPDATE record SET state = 'draft' WHERE id = NEW.id; END"
                )
            )


@pytest.mark.requirement("REQ-REC-04")
def test_a_reconciliation_mismatch_fails_the_whole_import(db):
    _tamper_with_new_batches(db)
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(history_bundle()), migrate=True)
    problems = {e.field: e.message for e in refused.value.errors}
    assert "content hash" in problems["records[0]"]
    assert "1 batch record(s) in state 'released' were written, 0 are stored" in problems["records"]
    assert snapshot(db) == before


def test_the_record_page_and_every_printout_show_the_migration(db, client, make_person):
    raw = encode(history_bundle())
    apply_bundle(db, SYSTEM, raw, migrate=True)
    make_person("ann", "analyst")
    with db.read() as conn:
        batch_id = conn.execute(select(record.c.id).where(record.c.type_key == "batch")).scalar()
    sign_in(client, "ann", TEST_PASSWORD)
    notice = f"source file SHA-256 {hashlib.sha256(raw).hexdigest()}"
    assert notice in client.get(f"/records/batch/{batch_id}").text
    assert notice in client.get(f"/records/batch/{batch_id}/print").text
    publish_template(db, label_template())
    labels = client.get("/records/batch/labels/batch_label", params={"id": batch_id})
    assert labels.status_code == 200 and notice in labels.text


@pytest.mark.requirement("REQ-REC-04")
def test_every_printout_of_a_migrated_record_says_so(db):
    raw = encode(history_bundle())
    apply_bundle(db, SYSTEM, raw, migrate=True)
    publish_template(db, label_template())
    publish_template(
        db, certificate_template(template="<p>{{ record.migration.source_sha256 }}</p>")
    )
    sha256 = hashlib.sha256(raw).hexdigest()
    with db.read() as conn:
        batch = conn.execute(
            select(record.c.id, record.c.number).where(record.c.type_key == "batch")
        ).one()
        labels = print_labels(conn, SYSTEM, "batch", [batch.id, batch.id], "batch_label")
        document = print_record(conn, SYSTEM, "batch", batch.id, "batch_certificate")
    assert labels.notices == document.notices
    (notice,) = labels.notices
    assert notice.startswith(f"{batch.number} was migrated from another system")
    assert notice.endswith(f"source file SHA-256 {sha256}.")
    assert [[str(body) for body in page] for page in document.pages] == [[f"<p>{sha256}</p>"]]


def test_the_cli_migrates_with_migrate(db, labledger, tmp_path):  # noqa: F811
    path = tmp_path / "history.json"
    path.write_bytes(encode(history_bundle()))
    status, _, err = labledger("config", "import", str(path))
    assert status != 0 and "--migrate" in err
    status, out, _ = labledger("config", "import", str(path), "--migrate")
    assert status == 0, out
    assert "      batch released: 1" in out
    assert _stored(db)["batch"][0] == "released"


def test_the_api_migrates_only_for_the_permitted(db, client, make_person):
    raw = encode(history_bundle())
    configurer = make_person("cora", "configurer", permissions=(CONFIGURE,))
    plain = client.post("/api/v1/config/import", content=raw, headers=configurer.headers)
    assert plain.status_code == 422
    assert "records[0].state" in {e["field"] for e in plain.json()["errors"]}
    refused = client.post(
        "/api/v1/config/import?migrate=true", content=raw, headers=configurer.headers
    )
    assert refused.status_code == 403
    migrator = make_person("mia", "migrator", permissions=(CONFIGURE, MIGRATE_RECORDS))
    done = client.post("/api/v1/config/import?migrate=true", content=raw, headers=migrator.headers)
    assert done.status_code == 200, done.text
    assert done.json()["reconciliation"]["counts"]["batch"] == {"released": 1}
