"""Seed bundles loaded by ``labledger init``: once, with optional demo users and records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labledger.bundles.seeds import load_seed_bundles
from labledger.db.tables import record
from labledger.errors import ValidationFailed
from labledger.identity.users import check_password, get_user
from tests.test_bundles import encode, snapshot, starter_bundle

DEMO: dict[str, Any] = {
    "users": [
        {"username": "ann", "full_name": "Ann Analyst", "roles": ["analyst"]},
        {"username": "rob", "full_name": "Rob Reviewer", "roles": ["reviewer"], "email": "r@x.org"},
    ],
    "records": [
        {"type": "batch", "ref": "demo-batch", "data": {"code": "D-1"}, "state": "checked"},
        {
            "type": "measurement",
            "ref": "demo-ph",
            "data": {"name": "pH", "batch": {"ref": "demo-batch"}, "analyst": "ann"},
        },
    ],
}


def write_seed(root: Path, name: str, bundle: bytes, demo: bytes | None = None) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "bundle.json").write_bytes(bundle)
    if demo is not None:
        (folder / "demo.json").write_bytes(demo)


def record_numbers(db) -> list[str]:
    with db.read() as conn:
        return sorted(conn.execute(select(record.c.number)).scalars())


def test_no_seed_folders_loads_nothing(db, tmp_path):
    (tmp_path / "empty").mkdir()  # a folder without bundle.json is not a seed
    before = snapshot(db)
    assert load_seed_bundles(db, demo=True, root=tmp_path) == ([], {})
    assert snapshot(db) == before


def test_seeds_with_demo_data_load_once(db, tmp_path):
    write_seed(tmp_path, "starter", encode(starter_bundle()), json.dumps(DEMO).encode())
    loaded, passwords = load_seed_bundles(db, demo=True, root=tmp_path)
    assert loaded == ["starter 1.0"]
    assert set(passwords) == {"ann", "rob"}
    with db.write() as conn:
        assert check_password(conn, "ann", passwords["ann"], lockout_threshold=5).principal
        rob = get_user(conn, "rob")
    assert (rob["roles"], rob["email"], rob["must_change_password"]) == (
        ["reviewer"],
        "r@x.org",
        False,
    )
    assert len(record_numbers(db)) == 4

    before = snapshot(db)
    assert load_seed_bundles(db, demo=True, root=tmp_path) == (["starter 1.0"], {})
    assert load_seed_bundles(db, demo=False, root=tmp_path) == (["starter 1.0"], {})
    assert snapshot(db) == before


def test_demo_data_only_when_asked(db, tmp_path):
    write_seed(tmp_path, "starter", encode(starter_bundle()), json.dumps(DEMO).encode())
    assert load_seed_bundles(db, demo=False, root=tmp_path) == (["starter 1.0"], {})
    assert len(record_numbers(db)) == 2
    _, passwords = load_seed_bundles(db, demo=True, root=tmp_path)
    assert set(passwords) == {"ann", "rob"}
    assert len(record_numbers(db)) == 4


@pytest.mark.parametrize(
    ("bundle", "demo", "where", "path"),
    [
        (b"{", None, "seed starter/bundle.json: ", "(document)"),
        (
            encode(starter_bundle()),
            json.dumps({"users": [{"username": "ann"}]}).encode(),
            "seed starter/demo.json: ",
            "users[0].full_name",
        ),
        (
            encode(starter_bundle()),
            json.dumps({"records": [{"type": "batch", "ref": "x", "data": {}}]}).encode(),
            "seed starter/demo.json: ",
            "records[0].data.code",
        ),
    ],
)
def test_a_bad_seed_is_refused_naming_its_file(db, tmp_path, bundle, demo, where, path):
    write_seed(tmp_path, "starter", bundle, demo)
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        load_seed_bundles(db, demo=True, root=tmp_path)
    assert refused.value.detail.startswith(where)
    assert path in [e.field for e in refused.value.errors]
    assert snapshot(db) == before
