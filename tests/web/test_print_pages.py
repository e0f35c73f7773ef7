"""Print pages in the browser: a record's printout and sheets of labels."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.conftest import TEST_PASSWORD
from tests.test_printing import (
    certificate_template,
    label_template,
    make_batch,
    publish_template,
    publish_types,
)
from tests.web.helpers import sign_in


@pytest.fixture
def types(db, publish):
    publish_types(db, publish)


def test_print_pages_need_a_session(client, db, types):
    publish_template(db, label_template())
    batch = make_batch(db, "B-1")
    response = client.get(f"/records/batch/{batch['id']}/print/batch_label", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login?next=/records/batch/")


def test_record_printout_with_toolbar_and_its_only_script(client, db, types, make_person):
    publish_template(db, label_template())
    batch = make_batch(db, "B-1", product="<script>alert(1)</script>")
    make_person("rita", "reader")
    sign_in(client, "rita", TEST_PASSWORD)
    response = client.get(f"/records/batch/{batch['id']}/print/batch_label")
    assert response.status_code == 200
    html = response.text
    assert f'<a href="/records/batch/{batch["id"]}">Back to the record</a>' in html
    assert '<button id="print-button" type="button">Print</button>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1, "the Print button's script is the only one"
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = response.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "form-action 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "@media print" in html and ".toolbar { display: none; }" in html


def test_labels_page_lays_out_several_labels_per_page(client, db, types, make_person):
    publish_template(db, label_template())
    batches = [make_batch(db, f"B-{i}") for i in range(4)]
    make_person("rita", "reader")
    sign_in(client, "rita", TEST_PASSWORD)
    ids = "&".join(f"id={b['id']}" for b in batches)
    response = client.get(f"/records/batch/labels/batch_label?{ids}&skip=19")
    assert response.status_code == 200
    html = response.text
    assert html.count('<section class="sheet">') == 2, "19 blanks + 4 labels: two pages of 21"
    assert html.count('<div class="label">') == 23
    assert html.count("<svg") == 8, "a Code 128 and a QR code on each label"
    assert "grid-template-rows: repeat(7, 38.1mm)" in html
    assert "Batch label: 4 labels · 2 pages" in html
    assert '<a href="/records/batch">Back to the list</a>' in html


def test_print_page_errors_are_readable_pages(client, db, types, make_person):
    publish_template(db, certificate_template())
    publish_template(
        db, certificate_template(key="broken", template="<h1>\n{{ field('nothing') }}</h1>")
    )
    batch = make_batch(db, "B-1")
    make_person("rita", "reader")
    sign_in(client, "rita", TEST_PASSWORD)
    refused = client.get(f"/records/batch/{batch['id']}/print/batch_certificate")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "You may not read Measurements." in refused.text
    broken = client.get(f"/records/batch/{batch['id']}/print/broken")
    assert broken.status_code == 422
    assert "line 2: there is no field &#39;nothing&#39; in Batches" in broken.text
    missing = client.get("/records/batch/labels/batch_certificate")
    assert missing.status_code == 422 and "Choose the records to print labels for." in missing.text
