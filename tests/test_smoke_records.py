"""End-to-end smoke: publish, create, update and list through the services."""

from __future__ import annotations

from labledger.metadata.types import type_model
from labledger.records.query import ListQuery, list_records
from labledger.records.service import create_record, update_record
from tests.definitions import batch_type, measurement_type


def test_create_update_list(db, publish, make_person):
    analyst = make_person("ann", "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        batch = create_record(
            conn,
            analyst.principal,
            "batch",
            {"code": "B-1", "product": "Aspirin"},
            attachment_limit=1000,
        )
        rec = create_record(
            conn,
            analyst.principal,
            "measurement",
            {"name": "pH", "batch": batch["number"], "value": 7.25, "comment": "high"},
            attachment_limit=1000,
        )
    assert rec["data"]["out_of_limits"] is True
    assert rec["data"]["batch"] == batch["id"]
    with db.write() as conn:
        rec2 = update_record(
            conn,
            analyst.principal,
            "measurement",
            rec["id"],
            {"value": 3},
            expected_version=1,
            reason="typo",
            attachment_limit=1000,
        )
    assert rec2["version"] == 2 and rec2["data"]["out_of_limits"] is False
    with db.read() as conn:
        page = list_records(
            conn, type_model(conn, "measurement"), ListQuery(filters={"value__gte": "2"})
        )
    assert [r["id"] for r in page["items"]] == [rec["id"]]
