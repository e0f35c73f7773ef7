"""Hostile addresses and forms on the HTML pages: numbers beyond 64 bits and NUL
characters get a readable error page with a 4xx status, never a server error."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD
from tests.definitions import batch_type, unchanged
from tests.test_hostile_input import BEYOND_64_BITS
from tests.web.helpers import csrf_token, sign_in
from tests.web.test_admin_types import ADMIN_PERMISSIONS


@pytest.fixture
def signed_in(client, make_person, publish):
    """A client signed in as an analyst who configures and reads the audit trail."""
    make_person("ann", "analyst", "reviewer", permissions=ADMIN_PERMISSIONS)
    publish(batch_type())
    assert sign_in(client, "ann", TEST_PASSWORD).status_code == 302
    return client


def _error_page(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_ids_and_cursors_beyond_64_bits_get_an_error_page(signed_in):
    pages = {
        f"/records/batch/{BEYOND_64_BITS}": "record_id",
        f"/records/batch/{BEYOND_64_BITS}/edit": "record_id",
        f"/records/batch/{BEYOND_64_BITS}/print": "record_id",
        f"/records/batch/{BEYOND_64_BITS}/attachments/{BEYOND_64_BITS}": "record_id",
        f"/audit?before={BEYOND_64_BITS}": "before",
        f"/imports?before={BEYOND_64_BITS}": "before",
        f"/imports/{BEYOND_64_BITS}": "import_id",
        f"/records/batch/labels/any?id={BEYOND_64_BITS}": "ids",
    }
    for url, parameter in pages.items():
        text = _error_page(signed_in.get(url), 400)
        assert f"<code>{parameter}</code>" in text, url


def test_a_nul_in_the_address_gets_an_error_page(signed_in):
    for url, parameter in {"/audit?user=a%00b": "user", "/mappings/a%00b": "path"}.items():
        text = _error_page(signed_in.get(url), 422)
        assert f"<code>{parameter}</code>" in text, url


def test_a_nul_in_a_sign_in_form_is_refused_before_the_database(db, client):
    token = csrf_token(client)
    with unchanged(db):
        answer = client.post(
            "/login",
            data={"username": "ti\x00na", "password": "x", "next": "/", "_csrf_token": token},
        )
        assert "<code>username</code>" in _error_page(answer, 422)
