"""Seed bundles loaded by ``labledger init``: once, with optional demo users and records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labledger.bundles.seeds import load_seed_bundles
from labledger.db.tables import record
from labledger.errors import Conflict, Forbidden, ServiceError, ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.identity.users import check_password, create_user, get_user
from labledger.workflows.signatures import signatures_of
from tests.test_bundles import encode, snapshot, starter_bundle

DEMO: dict[str, Any] = {
    "users": [
        {"username": "ann", "full_name": "Ann Analyst", "roles": ["analyst"]},
        {"username": "rob", "full_name": "Rob Reviewer", "roles": ["reviewer"], "email": "r@x.org"},
        {"username": "amy", "full_name": "Amy Approver", "roles": ["approver"]},
    ],
    "records": [
        {
            "ref": "demo-batch",
            "type": "batch",
            "by": "ann",
            "data": {"code": "D-1"},
            "steps": [{"by": "rob", "transition": "check"}],
        },
        {
            "ref": "demo-ph",
            "type": "measurement",
            "by": "ann",
            "data": {"name": "pH", "batch": {"ref": "demo-batch"}},
            "steps": [{"by": "ann", "data": {"value": 3.5}, "reason": "measured"}],
        },
        {"ref": "demo-batch", "steps": [{"by": "amy", "transition": "release"}]},
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
    assert set(passwords) == {"ann", "rob", "amy"}
    with db.write() as conn:
        assert check_password(conn, "ann", passwords["ann"]).principal
        rob = get_user(conn, "rob")
    assert (rob["roles"], rob["email"], rob["must_change_password"]) == (
        ["reviewer"],
        "r@x.org",
        False,
    )
    assert len(record_numbers(db)) == 4
    with db.read() as conn:
        batch = conn.execute(select(record).where(record.c.data["code"].as_string() == "D-1"))
        batch = batch.mappings().one()
        signed = signatures_of(conn, dict(batch))
    assert (batch["state"], batch["created_by"]) == ("released", "ann")
    assert [(s["signer"], s["meaning"], s["status"]) for s in signed] == [
        ("amy", "Released", "current")
    ]

    before = snapshot(db)
    assert load_seed_bundles(db, demo=True, root=tmp_path) == (["starter 1.0"], {})
    assert load_seed_bundles(db, demo=False, root=tmp_path) == (["starter 1.0"], {})
    assert snapshot(db) == before


def test_demo_data_only_when_asked(db, tmp_path):
    write_seed(tmp_path, "starter", encode(starter_bundle()), json.dumps(DEMO).encode())
    assert load_seed_bundles(db, demo=False, root=tmp_path) == (["starter 1.0"], {})
    assert len(record_numbers(db)) == 2
    _, passwords = load_seed_bundles(db, demo=True, root=tmp_path)
    assert set(passwords) == {"ann", "rob", "amy"}
    assert len(record_numbers(db)) == 4


@pytest.mark.parametrize(
    ("bundle", "demo", "where", "path"),
    [
        (b"{", None, "seed starter/bundle.json: ", "(document)"),
        (
            encode(starter_bundle()),
            json.dumps({"users": [{"username": "ann"}]}),
            "seed starter/demo.json: ",
            "users[0].full_name",
        ),
        (
            encode(starter_bundle()),
            json.dumps({**DEMO, "records": [{**DEMO["records"][0], "data": {"product": "X"}}]}),
            "seed starter/demo.json: records[0] (demo-batch): ",
            "records[0].data.code",
        ),
        (
            encode(starter_bundle()),
            json.dumps({**DEMO, "records": DEMO["records"][2:]}),
            "seed starter/demo.json: ",
            "records[0].ref",
        ),
        (
            encode(starter_bundle()),
            json.dumps({**DEMO, "users": DEMO["users"][:2]}),
            "seed starter/demo.json: ",
            "records[2].steps[0].by",
        ),
        (
            encode(starter_bundle()),
            json.dumps(
                {**DEMO, "records": [{"ref": "x", "type": "batch", "find": {"code": "D-1"}}]}
            ),
            "seed starter/demo.json: records[0] (x): ",
            "records[0].find",
        ),
    ],
)
def test_a_bad_seed_is_refused_naming_its_file(db, tmp_path, bundle, demo, where, path):
    write_seed(tmp_path, "starter", bundle, demo if demo is None else demo.encode())
    before = snapshot(db)
    with pytest.raises(ServiceError) as refused:
        load_seed_bundles(db, demo=True, root=tmp_path)
    assert refused.value.detail.startswith(where)
    assert path in [e.field for e in refused.value.errors]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("steps", "refusal"),
    [
        (
            [{"by": "ann", "transition": "check"}],
            "steps[0] (demo-batch): Only these roles may check: Reviewer.",
        ),
        (
            [{"by": "rob", "transition": "check"}, {"by": "rob", "transition": "release"}],
            "steps[1] (demo-batch): Only these roles may release: Approver.",
        ),
    ],
)
def test_a_demo_step_runs_only_as_its_workflow_allows(db, tmp_path, steps, refusal):
    """Demo steps get no privilege: a step the user's roles do not allow refuses the demo."""
    demo = {**DEMO, "records": [{**DEMO["records"][0], "steps": steps}]}
    write_seed(tmp_path, "starter", encode(starter_bundle()), json.dumps(demo).encode())
    before = snapshot(db)
    with pytest.raises(Forbidden) as refused:
        load_seed_bundles(db, demo=True, root=tmp_path)
    assert refused.value.detail.endswith(f"demo.json: records[0].{refusal}")
    assert snapshot(db) == before


def test_a_demo_transition_on_a_type_without_a_workflow_is_refused_as_such(db, tmp_path):
    """The step is refused for what is wrong with it, not for a workflow named 'None'."""
    step = {"by": "ann", "transition": "check"}
    demo = {**DEMO, "records": [DEMO["records"][0], {**DEMO["records"][1], "steps": [step]}]}
    write_seed(tmp_path, "starter", encode(starter_bundle()), json.dumps(demo).encode())
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        load_seed_bundles(db, demo=True, root=tmp_path)
    assert refused.value.detail.endswith(
        "demo.json: records[1].steps[0] (demo-ph): Measurements have no workflow."
    )
    assert snapshot(db) == before


def test_a_demo_whose_users_exist_in_part_is_refused(db, tmp_path):
    write_seed(tmp_path, "starter", encode(starter_bundle()), json.dumps(DEMO).encode())
    load_seed_bundles(db, demo=False, root=tmp_path)
    with db.write() as conn:
        create_user(conn, SYSTEM, username="rob", full_name="Another Rob", roles=["reviewer"])
    before = snapshot(db)
    with pytest.raises(Conflict) as refused:
        load_seed_bundles(db, demo=True, root=tmp_path)
    assert "The demo users rob exist already, but not the others" in refused.value.detail
    assert snapshot(db) == before
