"""The designers read back everything the shipped configurations say.

The LIMS and QMS bundles use every part of the meta-model the designers edit --
rules, default expressions, child numbering, multiple references, summary
fields, alarm values, confirmations, per-state field lists -- so opening each
of their types and workflows, opening every field and transition in the
editor, and publishing again must change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from labledger.bundles.seeds import load_seed_bundles
from labledger.db.engine import Database
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.workflows.definitions import WORKFLOW_KIND
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import sign_in
from tests.web.test_admin_types import ADMIN_PERMISSIONS, config_rows, post_form


@pytest.fixture
def shipped(db: Database, client: Any, make_person: Any) -> Any:
    """Both shipped configurations, and an admin signed in."""
    loaded, _ = load_seed_bundles(db, demo=False)
    assert {"lims 1.0", "qms 1.0"} <= set(loaded)
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    return client


def _keys(db: Database, kind: str) -> list[str]:
    with db.read() as conn:
        return versions.keys(conn, kind)


def _open_each_and_publish(client: Any, db: Database, path: str, items: str) -> None:
    """Open ``path``, each of its ``items`` in the editor, and publish: nothing changes."""
    page = client.get(path).text
    count = page.count('name="op" value="select:')
    assert count, f"{path} lists no {items}"
    for index in range(count):
        response = post_form(
            client, page, f"{path.rsplit('/', 1)[0]}/designer", op=f"select:{index}"
        )
        assert response.status_code == 200, response.text
        page = response.text
    before = config_rows(db)
    response = post_form(client, page, f"{path.rsplit('/', 1)[0]}/designer", op="publish")
    assert "Nothing changed: version" in response.text, (path, response.text[:3000])
    assert config_rows(db) == before


def test_every_shipped_type_reopens_and_republishes_unchanged(shipped, db):
    keys = _keys(db, TYPE_KIND)
    assert {"sample", "result", "analysis", "sample_type"} <= set(keys)
    for key in keys:
        _open_each_and_publish(shipped, db, f"/admin/types/{key}", "fields")


def test_every_shipped_workflow_reopens_and_republishes_unchanged(shipped, db):
    keys = _keys(db, WORKFLOW_KIND)
    assert {"sample_lifecycle", "result_review"} <= set(keys)
    for key in keys:
        _open_each_and_publish(shipped, db, f"/admin/workflows/{key}", "transitions")
