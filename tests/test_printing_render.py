"""Printing records: barcodes, the template context, escaping, the sandbox, labels."""

from __future__ import annotations

import re
from typing import Any

import pytest
import segno
from barcode.charsets.code128 import CODES
from sqlalchemy import select

from labledger.db.tables import record
from labledger.errors import Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from labledger.printing.render import MAX_LABELS, print_labels, print_record
from labledger.printing.sandbox import Limits
from labledger.records.service import create_record, update_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import SignatureInput, run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import acting, unchanged
from tests.test_printing import (
    certificate_template,
    label_template,
    make_batch,
    publish_template,
    publish_types,
    store_unchecked,
)
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type

ALICE = acting("alice", "analyst")


@pytest.fixture
def types(db, publish):
    publish_types(db, publish)


def decode_code128(svg: str) -> str:
    """Read a Code 128 symbol back from the bars drawn in ``svg`` (sets A, B and C)."""
    path = re.search(r'<path fill="#000" d="([^"]+)"', svg)
    assert path, "no bars in the SVG"
    bars = [(int(x), int(w)) for x, w in re.findall(r"M(\d+) 0h(\d+)v", path.group(1))]
    first = bars[0][0]
    modules = ["0"] * (bars[-1][0] + bars[-1][1] - first)
    for x, width in bars:
        modules[x - first : x - first + width] = ["1"] * width
    text = "".join(modules)
    assert text.endswith("1100011101011"), "the stop pattern ends the symbol"
    values = [CODES.index(text[i : i + 11]) for i in range(0, len(text) - 13, 11)]
    start, data, check = values[0], values[1:-1], values[-1]
    assert (start + sum(i * v for i, v in enumerate(data, 1))) % 103 == check, "bad check symbol"
    code_set = {103: "A", 104: "B", 105: "C"}[start]
    decoded = ""
    for value in data:
        if value in (99, 100, 101) and not (code_set == "C" and value == 99):
            code_set = {99: "C", 100: "B", 101: "A"}[value]
        elif code_set == "C":
            decoded += f"{value:02d}"
        elif code_set == "B" or value < 64:
            decoded += chr(value + 32)
        else:
            decoded += chr(value - 64)
    return decoded


def qr_modules(svg: str) -> tuple[int, set[tuple[int, int]]]:
    """(size, dark modules as (row, column)) of the QR code drawn in ``svg``."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    path = re.search(r'<path stroke="#000" d="([^"]+)"', svg).group(1)
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(y), int(x) + i) for i in range(int(a)))
            x += int(a)
    return size, dark


def _print(db, actor, type_key, record_id, template_key, **kwargs: Any) -> str:
    with db.read() as conn:
        sheet = print_record(conn, actor, type_key, record_id, template_key, **kwargs)
    return str(sheet.pages[0][0])


def test_label_prints_code128_and_qr_of_the_number(db, types):
    publish_template(db, label_template())
    batch = make_batch(db, "B-1")
    html = _print(db, ALICE, "batch", batch["id"], "batch_label")
    code128 = re.search(r'<svg[^>]*class="code128".*?</svg>', html, re.S).group(0)
    assert decode_code128(code128) == batch["number"]
    assert f">{batch['number']}</text>" in code128, "the number is printed under the bars"
    qr = re.search(r'<svg[^>]*class="qr".*?</svg>', html, re.S).group(0)
    size, dark = qr_modules(qr)
    expected = segno.make_qr(batch["number"], error="m")
    assert size == len(expected.matrix) + 8, "a 4-module quiet zone on each side"
    assert dark == {
        (r + 4, c + 4) for r, row in enumerate(expected.matrix) for c, v in enumerate(row) if v
    }
    finder = {(r, c) for r in range(4, 11) for c in range(4, 11)}
    ring = {(r, c) for r, c in finder if r in (4, 10) or c in (4, 10)}
    core = {(r, c) for r in range(6, 9) for c in range(6, 9)}
    assert finder & dark == ring | core, "the top-left finder pattern is intact"
    assert '<p class="product">Aspirin</p>' in html


def test_record_values_print_as_text(db, types):
    publish_template(
        db, label_template(template="{{ code128(record.data.product) }}{{ record.data.product }}")
    )
    batch = make_batch(db, "B-1", product="<script>alert(1)</script>")
    html = _print(db, ALICE, "batch", batch["id"], "batch_label")
    assert "<script" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4, "label, title, caption, text"


def test_context_values_labels_and_displays(db, types):
    source = """{% for f in fields %}[{{ f.key }}|{{ f.label }}|{{ f.display }}|{{ f.unit }}]
{% endfor %}
{{ field("value").value }} {{ record.type_label }} {{ record.created_by_name }}
{{ referenced("batch").number }} {{ referenced("batch").field.product.display }}
{{ now.year > 2000 }} {{ record.data.value|number(3) }}"""
    publish_template(
        db,
        certificate_template(key="measurement_sheet", type="measurement", template=source),
    )
    batch = make_batch(db, "B-1")
    with db.write() as conn:
        measurement = create_record(
            conn,
            ALICE,
            "measurement",
            {
                "name": "Assay",
                "batch": batch["id"],
                "value": 3.1,
                "method": "hplc",
                "tags": ["urgent", "repeat"],
                "analyst": "admin",
                "measured_at": "2026-05-01T16:30:00+02:00",
            },
        )
    html = _print(db, ALICE, "measurement", measurement["id"], "measurement_sheet")
    lines = re.findall(r"\[([^\]]*)\]", html)
    assert [line.split("|")[0] for line in lines][:4] == ["name", "notes", "batch", "replicates"]
    shown = {line.split("|")[0]: line.split("|")[1:] for line in lines}
    assert shown["value"] == ["Value", "3.10", "mg/L"]
    assert shown["batch"] == ["Batch", batch["number"], ""]
    assert shown["method"][1] == "HPLC"
    assert shown["tags"][1] == "Urgent, Repeat"
    assert shown["checked"][1] == "No"
    assert shown["out_of_limits"][1] == "No"
    assert shown["measured_at"][1] == "2026-05-01 14:30:00 UTC"
    assert shown["notes"][1] == ""
    assert shown["analyst"][1] == "Administrator", "users print by their full names"
    assert "3.1 Measurement alice" in html, "a name not on file prints as the username"
    assert f"{batch['number']} Aspirin" in html
    assert "True 3.100" in html


@pytest.mark.requirement("REQ-SIG-01", "REQ-REC-05")
def test_certificate_with_referencing_records_signatures_and_history(db, make_person):
    people = {
        "analyst": make_person("alice", "analyst"),
        "reviewer": make_person("rob", "reviewer"),
        "qa": make_person("quinn", "qa"),
    }
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, TASK_FLOW)
        publish_workflow(conn, SYSTEM, JOB_FLOW)
        context = definition_context(conn, "job", extra_types={"task"})
        publish_type(conn, SYSTEM, job_type(), context=context)
        publish_type(conn, SYSTEM, task_type())
    source = """<h1>{{ record.number }} {{ record.state_label }}</h1>
{% for t in referencing("task", "job") %}<tr class="task"><td>{{ t.field.name.display }}</td>
<td>{{ t.field.value.display }}</td><td>{{ t.state_label }}</td></tr>{% endfor %}
{% for s in signatures %}<p class="signature">{{ s.printed_name }} | {{ s.meaning }}
 | {{ s.signed_at|utc }} | {{ s.status }}</p>{% endfor %}
<ol>{% for e in audit %}<li>{{ e.action }} {{ e.actor }}</li>{% endfor %}</ol>"""
    publish_template(db, certificate_template(key="job_certificate", type="job", template=source))

    def run(person: str, type_key: str, record_id: int, step: str, sign: bool = False) -> None:
        signature = SignatureInput(people[person].username, TEST_PASSWORD) if sign else None
        run_transition(
            db,
            people[person].principal,
            type_key,
            record_id,
            step,
            signature=signature,
        )

    with db.write() as conn:
        job = create_record(conn, people["analyst"].principal, "job", {"title": "Lot 7"})
    run("analyst", "job", job["id"], "start")
    with db.write() as conn:
        task_id = conn.execute(select(record.c.id).where(record.c.type_key == "task")).scalar_one()
        update_record(
            conn,
            people["analyst"].principal,
            "task",
            task_id,
            {"value": 4.2},
            expected_version=1,
        )
    run("analyst", "task", task_id, "enter")
    run("reviewer", "task", task_id, "review", sign=True)
    run("qa", "job", job["id"], "release", sign=True)

    html = _print(db, people["qa"].principal, "job", job["id"], "job_certificate")
    assert f"<h1>{job['number']} Released</h1>" in html
    assert re.search(r'<tr class="task"><td>Lot 7 task</td>\s*<td>4.2</td><td>Reviewed</td>', html)
    found = re.search(r'<p class="signature">(.*?)</p>', html, re.S).group(1)
    signature = [part.strip() for part in found.split("|")]
    assert signature[:2] == ["Quinn Tester", "Approved for release"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", signature[2])
    assert signature[3] == "current"
    assert "<li>record.create alice</li>" in html and "<li>record.sign quinn</li>" in html


@pytest.mark.requirement("REQ-ACC-01")
def test_printing_needs_read_permission(db, types):
    publish_template(
        db, certificate_template(key="measurement_sheet", type="measurement", template="x")
    )
    publish_template(db, certificate_template())
    batch = make_batch(db, "B-1")
    with db.write() as conn:
        measurement = create_record(
            conn,
            ALICE,
            "measurement",
            {"name": "Assay", "batch": batch["id"]},
        )
    guest = acting("gus", "guest")
    with pytest.raises(Forbidden, match="You may not read Measurements"):
        _print(db, guest, "measurement", measurement["id"], "measurement_sheet")
    with pytest.raises(Forbidden, match="You may not read Measurements"):
        _print(db, guest, "batch", batch["id"], "batch_certificate")
    assert "Certificate" in _print(db, ALICE, "batch", batch["id"], "batch_certificate")


def test_certificate_lists_results_with_units_and_flags(db, types):
    publish_template(db, certificate_template())
    batch = make_batch(db, "B-1")
    other = make_batch(db, "B-2")
    with db.write() as conn:
        for name, value, target in (("A", 3.1, batch), ("B", 9, batch), ("C", 2, other)):
            create_record(
                conn,
                ALICE,
                "measurement",
                {"name": name, "batch": target["id"], "value": value, "comment": "checked"},
            )
    html = _print(db, ALICE, "batch", batch["id"], "batch_certificate")
    rows = re.findall(r'<tr class="result">(.*?)</tr>', html, re.S)
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in rows]
    assert [c[1:] for c in cells] == [["3.10 mg/L", "ok"], ["9.00 mg/L", "OUT"]]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ field('nothing') }}", "line 1: there is no field 'nothing' in Batches"),
        ("\n{{ referencing('measurement', 'name') }}", "line 2: 'name' is not a reference field"),
        ("{{ referencing('nothing', 'batch') }}", "there is no object type 'nothing'"),
        ("{{ referenced('code') }}", "'code' is not a reference field of Batch"),
        ("{{ code128('é') }}", "printable ASCII characters only"),
        ("{{ code128(record.data.quantity) }}", "code128() was given no value"),
        ("{{ qr('x' * 1001) }}", "qr() encodes at most 1000 characters"),
        ("{{ 1 / 0 }}", "line 1: division by zero"),
        ("{{ record.data.code.nothing.deeper }}", "has no attribute 'nothing'"),
    ],
)
def test_template_errors_at_print_time_name_the_line(db, types, source, message):
    publish_template(db, certificate_template(template=source))
    batch = make_batch(db, "B-1")
    with pytest.raises(ValidationFailed) as exc:
        _print(db, ALICE, "batch", batch["id"], "batch_certificate")
    assert exc.value.detail.startswith("The print template 'batch_certificate' could not be")
    assert message in exc.value.errors[0].message


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ config }}",
        "{{ record._secret }}",
        "{{ record['__class__'] }}",
        "{{ lipsum.__globals__['os'] }}",
        "{% from 'x' import y %}",
    ],
)
def test_sandbox_escapes_are_refused_when_published(db, types, payload):
    with unchanged(db), pytest.raises(ValidationFailed) as exc:
        publish_template(db, certificate_template(template=payload))
    assert exc.value.errors[0].field == "template"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{% for i in range(10**9) %}{% endfor %}", "range() of 1,000,000,000 numbers"),
        ("{{ 'a' * 10**9 }}", "'*' would build 1,000,000,000 items"),
        ("{{ [1, 2] * 10**8 }}", "'*' would build 200,000,000 items"),
        ("{{ 2 ** (10 ** 7) }}", "'**' would build a number too large"),
        ("{{ '%0999999999d' % 1 }}", "'%' cannot format text"),
        ("{{ '{0:>999999999}'.format(1) }}", "'format' cannot be called"),
        ("{{ record.number.ljust(999999999) }}", "'ljust' cannot be called"),
        ("{{ fields.append(1) }}", "cannot be called"),
        ("{% set n = '__cla' ~ 'ss__' %}{{ record[n][n] }}", "is unsafe"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros call each other too deeply"),
        (
            "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
            "would pass the limit of 100,000 numbers per printout",
        ),
    ],
)
def test_sandbox_refuses_at_run_time(db, types, payload, message):
    """Payloads the publish checks cannot see are stopped while printing, quickly."""
    publish_template(db, certificate_template(template=payload))
    batch = make_batch(db, "B-1")
    with pytest.raises(ValidationFailed) as exc:
        _print(db, ALICE, "batch", batch["id"], "batch_certificate")
    assert message in exc.value.errors[0].message


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ self._TemplateReference__context.environment }}",
        "{% autoescape false %}{{ record.data.product }}{% endautoescape %}",
        "{{ record.data.product|safe }}",
    ],
)
def test_stored_templates_are_checked_again_before_printing(db, types, payload):
    """A template that reached the database without the publish checks still cannot run."""
    store_unchecked(db, certificate_template(template=payload))
    batch = make_batch(db, "B-1", product="<b>bold</b>")
    with pytest.raises(ValidationFailed) as exc:
        _print(db, ALICE, "batch", batch["id"], "batch_certificate")
    assert exc.value.errors[0].field == "template"


def test_dynamic_names_reach_nothing(db, types):
    source = (
        "{% set n = '__cla' ~ 'ss__' %}[{{ record[n] }}][{{ fields|map(attribute=n)|join }}]"
        "[{{ code128[n] }}]"
    )
    publish_template(db, certificate_template(template=source))
    batch = make_batch(db, "B-1")
    html = _print(db, ALICE, "batch", batch["id"], "batch_certificate")
    assert html == "[][][]"


def test_output_and_time_limits(db, types):
    publish_template(
        db, certificate_template(template="{% for i in range(100) %}0123456789{% endfor %}")
    )
    batch = make_batch(db, "B-1")
    assert len(_print(db, ALICE, "batch", batch["id"], "batch_certificate")) == 1000
    with pytest.raises(ValidationFailed, match="larger than 999 characters"):
        _print(
            db, ALICE, "batch", batch["id"], "batch_certificate", limits=Limits(output_chars=999)
        )
    with pytest.raises(ValidationFailed, match="took longer than"):
        _print(db, ALICE, "batch", batch["id"], "batch_certificate", limits=Limits(seconds=-1))


def test_wrong_template_type_record_and_kind(db, types):
    publish_template(db, label_template())
    publish_template(
        db, certificate_template(key="measurement_sheet", type="measurement", template="x")
    )
    batch = make_batch(db, "B-1")
    with pytest.raises(NotFound, match="is not for Batches"):
        _print(db, ALICE, "batch", batch["id"], "measurement_sheet")
    with pytest.raises(NotFound, match="no print template 'nothing'"):
        _print(db, ALICE, "batch", batch["id"], "nothing")
    with pytest.raises(NotFound):
        _print(db, ALICE, "batch", batch["id"] + 100, "batch_label")


def _labels(db, ids: list[int], template: str = "batch_label", skip: int = 0):
    with db.read() as conn:
        return print_labels(conn, ALICE, "batch", ids, template, skip=skip)


def test_labels_fill_pages_in_a_grid(db, types):
    publish_template(db, label_template(template="<b>{{ record.number }}</b>"))
    batches = [make_batch(db, f"B-{i}") for i in range(23)]
    ids = [b["id"] for b in batches]
    sheet = _labels(db, ids)
    assert [len(page) for page in sheet.pages] == [21, 2], "3 x 7 labels per page"
    assert (sheet.columns, sheet.rows, sheet.label_width_mm, sheet.gap_mm) == (3, 7, 63.5, 2.5)
    assert (sheet.width_mm, sheet.height_mm, sheet.margin_mm) == (210, 297, 7)
    printed = [str(cell) for page in sheet.pages for cell in page]
    assert printed == [f"<b>{b['number']}</b>" for b in batches]

    sheet = _labels(db, [ids[0], ids[0], ids[1]], skip=20)
    assert [len(page) for page in sheet.pages] == [21, 2]
    assert sheet.pages[0][:20] == [None] * 20, "skipped positions stay blank"
    assert [str(c) for c in sheet.pages[0][20:] + sheet.pages[1]] == [
        f"<b>{batches[0]['number']}</b>",
        f"<b>{batches[0]['number']}</b>",
        f"<b>{batches[1]['number']}</b>",
    ]


def test_label_requests_are_checked(db, types):
    publish_template(db, label_template())
    publish_template(db, certificate_template())
    batch = make_batch(db, "B-1")
    with pytest.raises(ValidationFailed, match="Choose the records"):
        _labels(db, [])
    with pytest.raises(ValidationFailed, match="Too many labels"):
        _labels(db, [batch["id"]] * (MAX_LABELS + 1))
    with pytest.raises(ValidationFailed, match="prints documents, not labels"):
        _labels(db, [batch["id"]], "batch_certificate")
    with pytest.raises(ValidationFailed) as exc:
        _labels(db, [batch["id"]], skip=21)
    assert exc.value.errors[0].message == "must be 0 to 20 (a page has 21 labels)"
    with pytest.raises(NotFound, match=f"with id {batch['id'] + 7}: no labels"):
        _labels(db, [batch["id"], batch["id"] + 7])


def test_a_page_of_labels_costs_a_few_queries(db, types):
    """Display lookups are made once per printout, not once per label."""
    from sqlalchemy import event

    publish_template(db, label_template())
    ids = [make_batch(db, f"B-{i}")["id"] for i in range(21)]
    statements: list[str] = []

    def count(*_args: Any) -> None:
        statements.append("")

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        _labels(db, ids[:1])
        one = len(statements)
        statements.clear()
        _labels(db, ids)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == one
