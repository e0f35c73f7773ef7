"""Response structs take exactly what the services return: no key dropped, none invented."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from labledger.api.schemas.base import shaped
from labledger.api.schemas.integration import ImportReport, SubscriptionChanged
from labledger.api.schemas.records import RecordView

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RECORD = {
    "id": 7,
    "type": "batch",
    "type_version": 1,
    "number": "B-7",
    "title": "",
    "state": None,
    "version": 2,
    "data": {"code": "B-7"},
    "created_at": NOW,
    "created_by": "ann",
    "updated_at": NOW,
    "updated_by": "ann",
}


def test_a_record_view_encodes_as_the_service_returned_it():
    encoded = msgspec.json.decode(msgspec.json.encode(shaped(RECORD, RecordView)))
    assert encoded == {
        **RECORD,
        "created_at": "2026-05-01T12:00:00Z",
        "updated_at": "2026-05-01T12:00:00Z",
    }


def test_a_key_the_struct_does_not_declare_is_refused_not_dropped():
    with pytest.raises(msgspec.ValidationError, match="unknown field `shelf`"):
        shaped({**RECORD, "shelf": "A1"}, RecordView)


def test_a_missing_key_is_refused():
    with pytest.raises(msgspec.ValidationError, match="missing required field `number`"):
        shaped({k: v for k, v in RECORD.items() if k != "number"}, RecordView)


def test_optional_members_are_left_out_when_the_service_leaves_them_out():
    subscription = {
        "name": "lims",
        "url": "https://example.test/hook",
        "filter": {"types": [], "kinds": [], "states": []},
        "active": True,
        "max_attempts": 10,
        "created_at": NOW,
        "created_by": "admin",
        "updated_at": NOW,
        "updated_by": "admin",
    }
    unchanged = msgspec.json.decode(msgspec.json.encode(shaped(subscription, SubscriptionChanged)))
    assert "secret" not in unchanged
    rotated = shaped({**subscription, "secret": "s3cret"}, SubscriptionChanged)
    assert msgspec.json.decode(msgspec.json.encode(rotated))["secret"] == "s3cret"


def test_the_import_report_keeps_its_import_member():
    report = {
        "mapping": "results",
        "mapping_version": 1,
        "type": "measurement",
        "file": "results.csv",
        "sha256": "0" * 64,
        "size": 10,
        "mode": "atomic",
        "dry_run": False,
        "applied": True,
        "import": 3,
        "counts": {"rows": 0},
        "errors": [],
        "rows": [],
    }
    assert msgspec.json.decode(msgspec.json.encode(shaped(report, ImportReport))) == report
