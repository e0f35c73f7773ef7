"""The shipped LIMS configuration (seeds/lims): it loads as ``labledger init`` loads
it, once, with its demo data, and its workflows never drift from the library.

The helpers here load the bundle for the other LIMS tests.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from labledger.bundles.seeds import load_seed_bundles
from labledger.db.engine import Database, open_database
from labledger.db.tables import record, role
from labledger.identity.principal import SYSTEM
from labledger.identity.tokens import create_token
from labledger.identity.users import check_password
from labledger.resources import data_path
from tests.test_bundles import snapshot
from tests.test_cli import run

LIMS = data_path("seeds", "lims")
#: The demo users and their documented passwords (docs/lims.md, seeds/lims/README.md).
DEMO_PASSWORDS = {
    "tina": "lims-demo-technician",
    "rita": "lims-demo-reviewer",
    "mark": "lims-demo-manager",
    "quinn": "lims-demo-quality",
    "ada": "lims-demo-admin",
}


def lims_seeds(tmp_path: Path) -> Path:
    """A seeds folder holding only the LIMS configuration, as shipped."""
    root = tmp_path / "seeds"
    root.mkdir(exist_ok=True)
    if not (root / "lims").exists():
        shutil.copytree(LIMS, root / "lims")
    return root


def load_lims(db: Database, tmp_path: Path, *, demo: bool) -> dict[str, str]:
    """Load the LIMS bundle (and its demo data) the way ``labledger init`` does."""
    loaded, passwords = load_seed_bundles(db, demo=demo, root=lims_seeds(tmp_path))
    assert loaded == ["lims 1.0"]
    return passwords


def token_of(db: Database, username: str) -> dict[str, str]:
    """Bearer headers for a demo user."""
    with db.write() as conn:
        return {"Authorization": f"Bearer {create_token(conn, SYSTEM, username)}"}


def records_of(db: Database, type_key: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(record.c.id, record.c.number, record.c.state, record.c.data)
            .where(record.c.type_key == type_key)
            .order_by(record.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def bundle() -> dict[str, Any]:
    return json.loads((LIMS / "bundle.json").read_text(encoding="utf-8"))


def test_embedded_workflows_are_the_library_files():
    embedded = {w["key"]: w for w in bundle()["workflows"]}
    assert set(embedded) == {"sample_lifecycle", "result_review"}
    for key, definition in embedded.items():
        library = json.loads(data_path("workflows", f"{key}.json").read_text(encoding="utf-8"))
        assert definition == library, f"workflows/{key}.json and the bundle's copy differ"


def test_bundle_loads_once_and_again_changes_nothing(db, tmp_path):
    assert load_lims(db, tmp_path, demo=False) == {}
    with db.read() as conn:
        roles = set(conn.execute(select(role.c.key)).scalars())
    assert {"lab_technician", "reviewer", "lab_manager", "qa", "admin"} <= roles
    assert records_of(db, "sample") == [], "without --demo there are no records"
    before = snapshot(db)
    assert load_lims(db, tmp_path, demo=False) == {}
    assert snapshot(db) == before


def test_demo_data_covers_every_state_with_known_passwords(db, tmp_path):
    passwords = load_lims(db, tmp_path, demo=True)
    assert passwords == DEMO_PASSWORDS
    with db.write() as conn:
        for username, password in DEMO_PASSWORDS.items():
            checked = check_password(conn, username, password)
            assert checked.principal is not None, username
            assert not checked.principal.must_change_password

    samples = records_of(db, "sample")
    states = Counter(s["state"] for s in samples)
    workflow = {w["key"]: w for w in bundle()["workflows"]}["sample_lifecycle"]
    assert set(states) == {s["key"] for s in workflow["states"]}
    assert 25 <= len(samples) <= 35
    aliquots = [s for s in samples if s["data"].get("parent")]
    parent = next(s for s in samples if s["id"] == aliquots[0]["data"]["parent"])
    assert aliquots[0]["number"] == parent["number"] + "-A01"

    results = records_of(db, "result")
    by_sample = {s["id"]: s["state"] for s in samples}
    for result in results:
        assert result["number"].startswith(
            next(s["number"] for s in samples if s["id"] == result["data"]["sample"])
        )
    tested = {"in_testing", "awaiting_review", "released", "rejected"}
    assert all(
        any(r["data"]["sample"] == s["id"] for r in results)
        for s in samples
        if s["state"] in tested
    ), "every sample in testing or later has results"
    assert any(r["data"]["out_of_spec"] for r in results)
    assert any(r["data"]["in_warning"] for r in results)
    assert all(
        r["state"] == "reviewed"
        for r in results
        if by_sample[r["data"]["sample"]] in ("awaiting_review", "released")
        and r["state"] not in ("retest_requested",)
    )
    retest = next(r for r in results if r["data"].get("retest_of"))
    original = next(r for r in results if r["id"] == retest["data"]["retest_of"])
    assert original["state"] == "retest_requested" and original["data"]["out_of_spec"]

    instruments = records_of(db, "instrument")
    overdue = [i for i in instruments if i["data"]["calibration_due"] < date.today().isoformat()]
    assert len(overdue) == 1 and overdue[0]["data"]["identifier"] == "TURB-01"
    locations = {loc["id"]: loc for loc in records_of(db, "storage_location")}
    kinds = Counter(loc["data"]["kind"] for loc in locations.values())
    assert {"site", "room", "freezer", "shelf", "box", "position"} <= set(kinds)

    before = snapshot(db)
    assert load_lims(db, tmp_path, demo=True) == {}, "demo users are created once"
    assert snapshot(db) == before


def test_init_demo_on_a_fresh_database_then_again_changes_nothing(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    code, out, _ = run(capsys, "--database", url, "init", "--demo")
    assert code == 0
    assert "Configuration loaded: lims 1.0" in out
    for username, password in DEMO_PASSWORDS.items():
        assert f"    {username:<16} {password}" in out
    db = open_database(url)
    try:
        before = snapshot(db)
        assert len(records_of(db, "sample")) >= 25
        code, again, _ = run(capsys, "--database", url, "init", "--demo")
        assert code == 0 and "Configuration loaded: lims 1.0" in again
        assert "lims-demo" not in again, "no demo user is created twice"
        assert snapshot(db) == before
    finally:
        db.dispose()
