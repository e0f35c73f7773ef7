"""What a record's page offers besides its fields: its printouts and new child records.

A print template of the record's type is one button; a type that references
the record's type is a "New ..." button opening that type's form with the
reference filled in, for people who may create such records. A prefilled
value arrives in a link anyone can craft, so the form takes it only when it
names what the person may see.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from labledger.identity.principal import SYSTEM
from labledger.printing.templates import publish_print_template
from labledger.records.attachments import store_attachment
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, make_lab


def _reference(key: str, label: str, to: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": label, "type": "reference", "to": to, **extra}


def _type(key: str, prefix: str, permissions: dict[str, list[str]], *fields: Any) -> dict[str, Any]:
    return {
        "key": key,
        "label": key.title(),
        "plural": f"{key.title()}s",
        "numbering": f"{prefix}-{{###}}",
        "permissions": permissions,
        "fields": [{"key": "note", "label": "Note", "type": "text"}, *fields],
    }


EVERYONE = {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]}
#: Read and written by QA only: the analysts of these tests may not see it.
QA_ONLY = {"read": ["qa"], "create": ["qa"], "edit": ["qa"]}


def _template(key: str, label: str, type_key: str, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "type": type_key,
        "kind": "document",
        "template": f"<h1>{label} {{{{ record.number }}}}</h1>",
        **extra,
    }


@pytest.fixture
def lab(db, make_person, publish):
    """Lots and results, transfers (two references to a lot and a list of them),
    QA's vault and memos that point at it, and print templates for three types."""
    people = make_lab(db, make_person)
    publish(
        _type(
            "transfer",
            "TRF",
            EVERYONE,
            _reference("from_lot", "From lot", "lot"),
            _reference("to_lot", "To lot", "lot"),
            _reference("related", "Related lots", "lot", multiple=True),
        )
    )
    publish(_type("vault", "VLT", QA_ONLY))
    publish(_type("memo", "MEM", EVERYONE, _reference("vault", "Vault", "vault")))
    label_grid = {"width_mm": 60, "height_mm": 30, "columns": 3, "rows": 8}
    with db.write() as conn:
        for template in (
            _template("lot_certificate", "Lot certificate", "lot"),
            _template("lot_label", "Lot label", "lot", kind="label", labels=label_grid),
            _template("result_sheet", "Result sheet", "result"),
            _template("vault_sheet", "Vault sheet", "vault"),
        ):
            publish_print_template(conn, SYSTEM, template)
    return people


def _buttons(html: str) -> dict[str, str]:
    """Label -> address of each button at the head of the page."""
    head = re.search(r'<div class="actions">(.*?)</div>', html, re.S)
    assert head, "no buttons"
    found = re.findall(r'<a class="button[^"]*" href="([^"]+)"[^>]*>([^<]+)</a>', head.group(1))
    return {label.strip(): href.replace("&amp;", "&") for href, label in found}


def _input_value(html: str, key: str) -> str:
    match = re.search(rf'<input id="in-{key}" name="{key}" value="([^"]*)"', html)
    assert match, f"no input for {key}"
    return match.group(1)


def test_a_button_per_print_template_of_the_records_type(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    result = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH"})
    sign_in(client, "ann", TEST_PASSWORD)

    buttons = _buttons(client.get(f"/records/lot/{lot['id']}").text)
    assert buttons["Lot certificate"] == f"/records/lot/{lot['id']}/print/lot_certificate"
    assert buttons["Lot label"] == f"/records/lot/{lot['id']}/print/lot_label"
    assert "Result sheet" not in buttons and "Vault sheet" not in buttons
    printed = client.get(buttons["Lot certificate"])
    assert printed.status_code == 200
    assert f"<h1>Lot certificate {lot['number']}</h1>" in printed.text
    assert client.get(buttons["Lot label"]).status_code == 200

    buttons = _buttons(client.get(f"/records/result/{result['id']}").text)
    assert buttons["Result sheet"] == f"/records/result/{result['id']}/print/result_sheet"
    assert not {"Lot certificate", "Lot label", "Vault sheet"} & set(buttons)


def test_print_buttons_only_for_people_who_may_read_the_records(client, db, lab):
    vault = create(db, lab.qa, "vault", {"note": "key"})
    sign_in(client, "ann", TEST_PASSWORD)
    refused = client.get(f"/records/vault/{vault['id']}")
    assert refused.status_code == 403 and "Vault sheet" not in refused.text
    sign_in(client, "quinn", TEST_PASSWORD)
    buttons = _buttons(client.get(f"/records/vault/{vault['id']}").text)
    assert buttons["Vault sheet"] == f"/records/vault/{vault['id']}/print/vault_sheet"


def test_new_child_buttons_for_people_who_may_create_them(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    buttons = _buttons(client.get(f"/records/lot/{lot['id']}").text)
    assert buttons["New Result"] == f"/records/result/new?lot={lot['id']}"
    assert buttons["New Transfer (From lot)"] == f"/records/transfer/new?from_lot={lot['id']}"
    assert buttons["New Transfer (To lot)"] == f"/records/transfer/new?to_lot={lot['id']}"
    assert not [label for label in buttons if "Related" in label], "a list is no form input"

    sign_in(client, "quinn", TEST_PASSWORD)
    buttons = _buttons(client.get(f"/records/lot/{lot['id']}").text)
    assert not [label for label in buttons if label.startswith("New ")], "QA creates neither"


def test_the_child_form_opens_with_the_parent_filled_in(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    url = _buttons(client.get(f"/records/lot/{lot['id']}").text)["New Result"]
    form = client.get(url)
    assert form.status_code == 200
    assert _input_value(form.text, "lot") == lot["number"]
    saved = client.post(
        "/records/result/new",
        data={"lot": lot["number"], "test": "pH", "_csrf_token": csrf_token(client, url)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "pH" in client.get(f"/records/lot/{lot['id']}").text, "listed under the lot"


def test_a_prefill_by_number_and_of_plain_fields_is_taken(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/new", params={"lot": lot["number"], "test": "pH"}).text
    assert _input_value(html, "lot") == lot["number"]
    assert _input_value(html, "test") == "pH"


@pytest.mark.parametrize(
    "value",
    ["999999", "99999999999999999999999", "0", "LOT-9999", "<script>x</script>", "own result"],
)
def test_a_prefill_naming_no_such_lot_is_left_out(client, db, lab, value):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    result = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH"})
    if value == "own result":
        value = str(result["id"])  # a record, but not a lot
    sign_in(client, "ann", TEST_PASSWORD)
    response = client.get("/records/result/new", params={"lot": value})
    assert response.status_code == 200
    assert _input_value(response.text, "lot") == ""
    assert "<script>x" not in response.text


def test_a_prefill_never_shows_what_the_person_may_not_read(client, db, lab):
    vault = create(db, lab.qa, "vault", {"note": "key"})
    with db.write() as conn:
        upload = store_attachment(
            conn,
            lab.qa.principal,
            filename="secret-plan.csv",
            content_type="text/csv",
            content=b"x",
            max_bytes=100,
        )
    sign_in(client, "ann", TEST_PASSWORD)
    for value in (str(vault["id"]), vault["number"]):
        response = client.get("/records/memo/new", params={"vault": value})
        assert response.status_code == 200
        assert _input_value(response.text, "vault") == ""
        assert vault["number"] not in response.text
    response = client.get("/records/lot/new", params={"certificate": str(upload["id"])})
    assert response.status_code == 200
    assert "secret-plan.csv" not in response.text, "a file is uploaded, never prefilled"
