"""The print template API and printing records as HTML through the API."""

from __future__ import annotations

import pytest

from labledger.identity.principal import CONFIGURE
from tests.definitions import unchanged
from tests.test_printing import (
    certificate_template,
    label_template,
    make_batch,
    publish_template,
    publish_types,
)


@pytest.fixture
def types(db, publish):
    publish_types(db, publish)


def _body(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k != "key"}


def test_publish_read_and_list(client, db, types, admin, make_person):
    response = client.put(
        "/api/v1/print-templates/batch_label", json=_body(label_template()), headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json() == {"key": "batch_label", "version": 1, "changed": True}
    again = client.put(
        "/api/v1/print-templates/batch_label", json=label_template(), headers=admin.headers
    )
    assert again.json() == {"key": "batch_label", "version": 1, "changed": False}

    reader = make_person("rita", "reader")
    read = client.get("/api/v1/print-templates/batch_label", headers=reader.headers)
    assert read.status_code == 200
    assert read.json()["definition"] == label_template()
    listed = client.get("/api/v1/print-templates?type=batch", headers=reader.headers).json()
    assert listed["items"] == [
        {
            "key": "batch_label",
            "label": "Batch label",
            "type": "batch",
            "kind": "label",
            "version": 1,
        }
    ]
    assert (
        client.get("/api/v1/print-templates?type=measurement", headers=reader.headers).json()[
            "items"
        ]
        == []
    )


def test_publish_refusals(client, db, types, admin, make_person):
    analyst = make_person("alice", "analyst")
    with unchanged(db):
        forbidden = client.put(
            "/api/v1/print-templates/batch_label", json=label_template(), headers=analyst.headers
        )
        invalid = client.put(
            "/api/v1/print-templates/batch_label",
            json=label_template(template="<p>\n{{ record.number }\n</p>"),
            headers=admin.headers,
        )
        renamed = client.put(
            "/api/v1/print-templates/other", json=label_template(), headers=admin.headers
        )
    assert forbidden.status_code == 403
    assert invalid.status_code == 422
    assert invalid.headers["content-type"].startswith("application/problem+json")
    assert invalid.json()["errors"] == [{"field": "template", "message": "line 2: unexpected '}'"}]
    assert renamed.status_code == 422 and renamed.json()["errors"][0]["field"] == "key"
    configurer = make_person("cora", "configurer", permissions=(CONFIGURE,))
    allowed = client.put(
        "/api/v1/print-templates/batch_label", json=label_template(), headers=configurer.headers
    )
    assert allowed.status_code == 200


@pytest.mark.requirement("REQ-REC-05")
def test_print_a_record_as_html(client, db, types, make_person):
    publish_template(db, label_template())
    batch = make_batch(db, "B-1", product="<img src=x onerror=alert(1)>")
    reader = make_person("rita", "reader")
    response = client.get(
        f"/api/v1/records/batch/{batch['id']}/print/batch_label", headers=reader.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "default-src 'none'" in policy
    html = response.text
    assert "@page { size: 210mm 297mm; margin: 7mm; }" in html
    assert 'class="code128"' in html and 'class="qr"' in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'class="toolbar"' not in html and "<script>" not in html


def test_print_labels_as_html(client, db, types, make_person):
    publish_template(db, label_template(template="<b>{{ record.number }}</b>"))
    batches = [make_batch(db, f"B-{i}") for i in range(22)]
    reader = make_person("rita", "reader")
    query = "&".join(f"id={b['id']}" for b in batches)
    response = client.get(
        f"/api/v1/records/batch/labels/batch_label?{query}&skip=1", headers=reader.headers
    )
    assert response.status_code == 200
    html = response.text
    assert html.count('<section class="sheet">') == 2
    assert html.count('<div class="label">') == 23
    assert "grid-template-columns: repeat(3, 63.5mm)" in html
    assert html.index(batches[0]["number"]) < html.index(batches[21]["number"])
    bad = client.get("/api/v1/records/batch/labels/batch_label?id=abc", headers=reader.headers)
    assert bad.status_code == 400


def test_print_refusals(client, db, types, make_person):
    publish_template(db, certificate_template())
    publish_template(
        db, certificate_template(key="measurement_sheet", type="measurement", template="x")
    )
    batch = make_batch(db, "B-1")
    reader = make_person("rita", "reader")
    path = f"/api/v1/records/batch/{batch['id']}/print"
    assert client.get(f"{path}/batch_certificate").status_code == 401
    refused = client.get(f"{path}/batch_certificate", headers=reader.headers)
    assert refused.status_code == 403, "the certificate lists measurements rita may not read"
    assert refused.json()["detail"] == "You may not read Measurements."
    assert client.get(f"{path}/measurement_sheet", headers=reader.headers).status_code == 404
    assert client.get(f"{path}/nothing", headers=reader.headers).status_code == 404
    analyst = make_person("alice", "analyst")
    assert client.get(f"{path}/batch_certificate", headers=analyst.headers).status_code == 200
