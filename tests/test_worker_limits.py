"""No request can hold a worker: admin-written patterns run in linear time,
print templates stop within their limits, and other requests are served meanwhile."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import httpx
import pytest

from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.messages import field_errors
from labledger.metadata.schemas import runtime_validator
from labledger.metadata.types import publish_type
from labledger.printing.render import print_labels, print_record
from labledger.printing.sandbox import Limits, PrintRun
from tests.browser.conftest import live_server  # noqa: F401 - the real server, as a fixture
from tests.conftest import TEST_PASSWORD
from tests.definitions import acting, add_roles, batch_type, unchanged
from tests.test_api import problem
from tests.test_printing import (
    certificate_template,
    label_template,
    make_batch,
    publish_template,
    publish_types,
)
from tests.web.helpers import sign_in

#: Backtracks catastrophically in Python's ``re``: 27 characters took 13 seconds.
EXPONENTIAL = "^(a+)+$"


def _batch_with_pattern(pattern: str) -> dict:
    definition = copy.deepcopy(batch_type())
    code = definition["fields"][0]
    code["pattern"] = pattern
    del code["max_length"]
    return definition


def test_a_backtracking_pattern_checks_a_long_value_promptly(db, client, make_person, publish):
    """10,000 characters (text fields take 500, which is refused too): the
    pattern is still searched, and answers at once."""
    ann = make_person("ann", "analyst")
    publish(_batch_with_pattern(EXPONENTIAL))
    started = time.monotonic()
    with unchanged(db):
        body = problem(
            client.post(
                "/api/v1/records/batch",
                json={"data": {"code": "a" * 10_000 + "!"}},
                headers=ann.headers,
            ),
            422,
        )
    assert time.monotonic() - started < 1, "a generous bound: RE2 takes microseconds"
    assert {
        "field": "data.code",
        "message": f"does not match the required format ({EXPONENTIAL})",
    } in body["errors"]
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "a" * 500}}, headers=ann.headers
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("pattern", [r"^(\d)\1$", r"^(?=A)[A-Z]+$", r"^(?<!X)Y"])
def test_patterns_re2_cannot_run_are_refused_at_publish(db, pattern):
    add_roles(db, "analyst")
    with unchanged(db), pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, _batch_with_pattern(pattern))
    errors = {e.field: e.message for e in refused.value.errors}
    assert "backreferences and lookarounds are not supported" in errors["fields[0].pattern"]


def test_a_stored_pattern_re2_cannot_run_gives_a_field_error():
    """A pattern published before patterns were checked with RE2 refuses values
    with a message saying so, never a server error."""
    validator = runtime_validator(
        {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(?=A)"}}}
    )
    [error] = field_errors(validator.iter_errors({"code": "A"}), "data")
    assert error.field == "data.code"
    assert error.message.startswith("cannot be checked: the field's pattern is not a regular")


@pytest.fixture
def types(db, publish):
    publish_types(db, publish)


#: Templates that would hold a worker (or its memory), and what stops each.
RUNAWAY_TEMPLATES = {
    "{{ 9 ** (9 ** 9) }}": "'**' would build a number too large to print",
    "{% set a = 2 ** 50000 %}{% set b = a * a %}{{ b * b }}": (
        "'*' would build a number too large to print"
    ),
    "{{ 'x' * 10 ** 9 }}": "'*' would build 1,000,000,000 items",
    "{{ [[1] * 1000] * 100000 }}": "'*' would build 100,100,000 items",
    "{% set s = 'x' * 60000 %}{{ s ~ s }}": "this expression would build more than 100,000 items",
    "{% set s = 'x' * 60000 %}{{ s + s }}": "'+' would build more than 100,000 items",
    "{% set a = [1] * 60000 %}{% set b = [a, a] %}{{ b }}": (
        "this expression would build more than 100,000 items"
    ),
    "{{ ('x' * 1000)|list|join('-' * 100) }}": "the separator of join takes at most 10",
    "{{ ([[1]] * 50000)|sum(start=[]) }}": "sum() adds numbers",
    "{{ ('x' * 100000)|wordwrap(1) }}": "wordwrap takes texts of at most 10,000 characters",
    "{% for i in range(10 ** 9) %}{% endfor %}": "range() of 1,000,000,000 numbers",
}


def test_runaway_templates_are_refused_with_a_clear_problem(client, db, types, make_person):
    batch = make_batch(db, "B-1")
    reader = make_person("rita", "reader")
    url = f"/api/v1/records/batch/{batch['id']}/print/batch_certificate"
    for payload, message in RUNAWAY_TEMPLATES.items():
        publish_template(db, certificate_template(template=payload))
        body = problem(client.get(url, headers=reader.headers), 422)
        assert body["detail"].startswith("The print template 'batch_certificate' could not be")
        [error] = body["errors"]
        assert error["field"] == "template" and message in error["message"], (payload, error)


def test_loops_look_at_the_clock_at_every_item(db, types):
    """Two loops over 100,000 characters each are 10^10 steps that build nothing:
    only the clock, checked at every item, stops them."""
    source = "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
    publish_template(db, certificate_template(template=source))
    batch = make_batch(db, "B-1")
    with pytest.raises(ValidationFailed) as refused, db.read() as conn:
        print_record(
            conn,
            acting("rita", "reader"),
            "batch",
            batch["id"],
            "batch_certificate",
            limits=Limits(seconds=0.05),
        )
    message = refused.value.errors[0].message
    assert "printing one record took longer than 0.05 seconds and was stopped" in message


def test_the_browser_shows_why_a_printout_was_stopped(client, db, types, make_person):
    publish_template(db, certificate_template(template="{{ 'x' * 10 ** 9 }}"))
    batch = make_batch(db, "B-1")
    make_person("rita", "reader")
    sign_in(client, "rita", TEST_PASSWORD)
    page = client.get(f"/records/batch/{batch['id']}/print/batch_certificate")
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "&#39;*&#39; would build 1,000,000,000 items" in page.text


def test_another_request_is_served_while_a_printout_runs_away(
    live_server,  # noqa: F811 - the fixture imported above
    db,
    types,
    make_person,
    monkeypatch,
):
    """The real server: a printout looping 10^10 times starts, a record is read
    and answered meanwhile, and the printout ends at its time limit (two
    seconds) with a clear problem."""
    source = "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
    publish_template(db, certificate_template(template=source))
    batch = make_batch(db, "B-1")
    reader = make_person("rita", "reader")
    rendering = threading.Event()
    render = PrintRun.render

    def render_and_tell(run: PrintRun, compiled: Any, context: dict[str, Any]) -> Any:
        rendering.set()
        return render(run, compiled, context)

    monkeypatch.setattr(PrintRun, "render", render_and_tell)
    printed: dict[str, Any] = {}

    def print_certificate() -> None:
        with httpx.Client(base_url=live_server, headers=reader.headers, timeout=30) as http:
            printed["response"] = http.get(
                f"/api/v1/records/batch/{batch['id']}/print/batch_certificate"
            )
        printed["at"] = time.monotonic()

    started = time.monotonic()
    printing = threading.Thread(target=print_certificate)
    printing.start()
    assert rendering.wait(timeout=30), "the printout never started"
    with httpx.Client(base_url=live_server, headers=reader.headers, timeout=30) as http:
        read = http.get(f"/api/v1/records/batch/{batch['id']}")
    read_at = time.monotonic()
    printing.join(timeout=30)

    assert read.status_code == 200 and read.json()["number"] == batch["number"]
    assert read_at < printed["at"], "the read was answered while the printout ran"
    stopped = printed["response"]
    assert stopped.status_code == 422
    assert stopped.headers["content-type"].startswith("application/problem+json")
    [error] = stopped.json()["errors"]
    assert "printing one record took longer than 2 seconds and was stopped" in error["message"]
    assert printed["at"] - started < 10, "a generous bound: the limit is two seconds"


def test_a_run_of_labels_has_a_time_limit_of_its_own(db, types):
    """A run of labels is stopped at the printout's limit, though each label
    is well within its own."""
    publish_template(db, label_template(template="{{ record.number }}"))
    batch = make_batch(db, "B-1")
    with pytest.raises(ValidationFailed) as refused, db.read() as conn:
        print_labels(
            conn,
            acting("rita", "reader"),
            "batch",
            [batch["id"]] * 3,
            "batch_label",
            limits=Limits(printout_seconds=0),
        )
    message = refused.value.errors[0].message
    assert "the printout took longer than 0 seconds and was stopped" in message
