"""GET /api/v1/records/{type}/{id}/dossier: JSON or PDF by Accept, permissions, bounds."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from labledger.dossier.document import read_dossier_json
from labledger.printing import pdf
from labledger.records.service import create_record
from tests.definitions import acting, batch_type, measurement_type
from tests.dossier_fixtures import signed_lot
from tests.web.record_fixtures import make_lab

#: The envelope ``GET /api/v1/records/{type}/{id}`` gives, which the dossier's record repeats.
ENVELOPE = (
    "id",
    "type",
    "type_version",
    "number",
    "title",
    "state",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _url(made) -> str:
    return f"/api/v1/records/lot/{made.lot['id']}/dossier"


def pdf_text(body: bytes) -> str:
    """The PDF's text, words separated by single spaces (table cells wrap lines)."""
    pages = PdfReader(io.BytesIO(body)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


@pytest.mark.requirement("REQ-DOS-01")
def test_json_repeats_the_record_as_the_records_api_gives_it(client, db, lab):
    made = signed_lot(db, lab)
    response = client.get(_url(made), headers=lab.qa.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    dossier = read_dossier_json(response.content)
    record = client.get(f"/api/v1/records/lot/{made.lot['id']}", headers=lab.qa.headers).json()
    copied = response.json()["record"]
    assert {k: copied[k] for k in ENVELOPE} == {k: record[k] for k in ENVELOPE}
    values = {f.key: f.value for f in dossier.record.fields}
    assert {k: values[k] for k in record["data"]} == record["data"]
    assert all(values[k] is None for k in values.keys() - record["data"].keys())
    history = client.get(f"{_url(made)[:-8]}/audit", headers=lab.qa.headers).json()["items"]
    assert [e.seq for e in dossier.record.audit] == [e["seq"] for e in history]
    [signature] = copied["signatures"]
    assert signature["signed_at"].endswith("Z") or "+00:00" in signature["signed_at"]
    assert [r["record"]["number"] for r in response.json()["related"]] == [
        r["number"] for r in made.results
    ]


@pytest.mark.requirement("REQ-DOS-01", "REQ-DOS-02")
def test_pdf_by_accept_carries_the_manifest_and_markers(client, db, lab):
    made = signed_lot(db, lab)
    response = client.get(_url(made), headers={**lab.qa.headers, "Accept": "application/pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert 'filename="LOT-0001-dossier.pdf"' in response.headers["content-disposition"]
    text = pdf_text(response.content)
    content_hash = client.get(_url(made), headers=lab.qa.headers).json()["record"]["content_hash"]
    assert content_hash in text.replace(" ", "")
    assert "Signature manifest" in text and "Quinn Tester" in text
    assert "Approved for release" in text and " UTC" in text
    assert "modified — see audit event" in text


@pytest.mark.parametrize("accept", ["text/csv", "application/xml", "image/png"])
def test_an_accept_it_cannot_give_is_406(client, db, lab, accept):
    made = signed_lot(db, lab)
    response = client.get(_url(made), headers={**lab.qa.headers, "Accept": accept})
    assert response.status_code == 406
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "application/pdf" in response.json()["detail"]


def test_without_a_pdf_engine_the_answer_is_503(client, db, lab, monkeypatch):
    made = signed_lot(db, lab)
    monkeypatch.setattr(pdf, "_engine", lambda: None)
    response = client.get(_url(made), headers={**lab.qa.headers, "Accept": "application/pdf"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "cannot make PDF files" in response.json()["detail"]


@pytest.mark.parametrize(("depth", "status"), [("0", 200), ("3", 200), ("4", 422), ("-1", 400)])
def test_depth_is_bounded(client, db, lab, depth, status):
    made = signed_lot(db, lab)
    response = client.get(f"{_url(made)}?depth={depth}", headers=lab.qa.headers)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["errors"] == [
            {"field": "depth", "message": "must be a whole number from 0 to 3"}
        ]
    bad = client.get(f"{_url(made)}?depth=deep", headers=lab.qa.headers)
    assert bad.status_code == 400


def test_permissions_as_the_record_endpoints(client, db, publish, make_person):
    make_person("alice", "analyst")
    make_person("rex", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        batch = create_record(conn, acting("alice", "analyst"), "batch", {"code": "B-1"})
        measured = create_record(
            conn, acting("alice", "analyst"), "measurement", {"name": "pH", "batch": batch["id"]}
        )
    reader = make_person("rita", "reader")
    refused = client.get(
        f"/api/v1/records/measurement/{measured['id']}/dossier", headers=reader.headers
    )
    assert refused.status_code == 403
    assert (
        client.get(
            f"/api/v1/records/measurement/{measured['id']}", headers=reader.headers
        ).status_code
        == 403
    )
    missing = client.get(
        f"/api/v1/records/batch/{measured['id'] + 99}/dossier", headers=reader.headers
    )
    assert missing.status_code == 404
    assert client.get(f"/api/v1/records/batch/{batch['id']}/dossier").status_code == 401
    seen = client.get(f"/api/v1/records/batch/{batch['id']}/dossier", headers=reader.headers)
    assert seen.status_code == 200
    assert seen.json()["related"] == []
    assert seen.json()["withheld"] == [
        {
            "relation": "referenced_by",
            "of": batch["number"],
            "type": "measurement",
            "field": "batch",
            "count": 1,
            "reason": "you may not read records of this type",
        }
    ]
    as_pdf = client.get(
        f"/api/v1/records/batch/{batch['id']}/dossier",
        headers={**reader.headers, "Accept": "application/pdf"},
    )
    text = pdf_text(as_pdf.content)
    assert "Withheld: 1 record of type measurement" in text and "pH" not in text


def test_the_openapi_document_names_its_answers(client):
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/api/v1/records/{type_key}/{record_id}/dossier"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Dossier"
    }
    for status in ("406", "503"):
        problem = operation["responses"][status]["content"]["application/problem+json"]
        assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "signatures" in document["components"]["schemas"]["DossierRecord"]["properties"]
