"""What the change-control page tests share: a lab under change control, its people, and
driving the change request pages as a browser does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labledger.changes.control import set_control
from labledger.changes.service import ProposedItem, propose
from labledger.changes.store import ChangeRequest, load
from labledger.db.engine import Database
from labledger.identity.principal import APPROVE_CONFIGURATION, SYSTEM
from labledger.metadata import versions
from tests.conftest import TEST_PASSWORD, Person
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import LOT_FLOW, lot_type, make_lab

_HASH = re.compile(r'name="content_hash" value="([0-9a-f]+)"')


@dataclass
class ControlledLab:
    """The lot lab with change control on, an author, a QA approver and an analyst."""

    author: Person
    qa: Person
    analyst: Person
    auditor: Person
    #: Configures and approves configuration: may propose, yet never approve their own.
    both: Person


def controlled_lab(db: Database, make_person: Any) -> ControlledLab:
    people = make_lab(db, make_person)
    lab = ControlledLab(
        author=make_person("ada", "cc_admin", permissions=("configure",)),
        qa=make_person("quentin", "cc_qa", permissions=(APPROVE_CONFIGURATION,)),
        analyst=people.analyst,
        auditor=make_person("aud", "cc_auditor", permissions=("read_audit",)),
        both=make_person("bea", "cc_both", permissions=("configure", APPROVE_CONFIGURATION)),
    )
    with db.write() as conn:
        set_control(conn, SYSTEM, enabled=True, reason="validated use")
    return lab


def as_user(client: Any, person: Person) -> Any:
    """Sign ``client`` in as ``person`` (replacing whoever was signed in)."""
    response = sign_in(client, person.username, TEST_PASSWORD)
    assert response.status_code in (302, 303), response.text
    return client


def with_new_field(label: str = "Courier", **extra: Any) -> dict[str, Any]:
    """The lot type with one more text field."""
    lot = lot_type()
    key = label.lower()
    lot["fields"] = [*lot["fields"], {"key": key, "label": label, "type": "text", **extra}]
    return lot


def without_approval_signature() -> dict[str, Any]:
    """The lot workflow whose approval no longer asks for a signature: a weakened control."""
    flow: dict[str, Any] = {**LOT_FLOW, "transitions": [dict(t) for t in LOT_FLOW["transitions"]]}
    approve = next(t for t in flow["transitions"] if t["key"] == "approve")
    del approve["signature"]
    return flow


def proposed(db: Database, author: Person, *items: tuple[str, str, dict[str, Any]]) -> int:
    """A draft change request by ``author`` holding ``items`` ((kind, key, body))."""
    with db.write() as conn:
        change = propose(
            conn,
            author.principal,
            title="Courier and faster approval",
            reason="The courier is recorded on every lot.",
            items=[ProposedItem(kind, key, body) for kind, key, body in items],
        )
    return change.id


def stored(db: Database, change_id: int) -> ChangeRequest:
    with db.read() as conn:
        return load(conn, change_id)


def current_body(db: Database, kind: str, key: str) -> dict[str, Any]:
    with db.read() as conn:
        found = versions.current(conn, kind, key)
    assert found is not None
    return found[1]


def post_step(client: Any, change_id: int, step: str, **form: str) -> Any:
    """Post one step's form of the request's page (with the page's CSRF token)."""
    token = csrf_token(client, f"/admin/changes/{change_id}")
    return client.post(
        f"/admin/changes/{change_id}/{step}",
        data={"_csrf_token": token, **form},
        follow_redirects=False,
    )


def approve(client: Any, change_id: int, password: str, username: str = "") -> Any:
    """Open the approval dialog as the page links it, and sign what it shows."""
    page = client.get(f"/admin/changes/{change_id}").text
    link = re.search(r'href="(/admin/changes/\d+/approve\?content_hash=[0-9a-f]+)"', page)
    assert link, "the page offers no approval"
    dialog = client.get(link.group(1).replace("&amp;", "&")).text
    content_hash = _HASH.search(dialog)
    assert content_hash
    token = csrf_token(client, f"/admin/changes/{change_id}")
    return client.post(
        f"/admin/changes/{change_id}/approve",
        data={
            "_csrf_token": token,
            "content_hash": content_hash.group(1),
            "username": username,
            "password": password,
        },
        follow_redirects=False,
    )
