"""`labledger validate`: tests generated from the installed configuration, run on a scratch
copy of it (never on the installation's records), reported as evidence."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from labledger import cli
from labledger.changes.service import ProposedItem, propose
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.types import publish_type, type_model
from labledger.records.query import ListQuery, list_records
from labledger.records.states import WORKFLOW_KIND
from labledger.validation.cases import FAILED, MANUAL, PASSED
from labledger.validation.run import qualify
from labledger.validation.samples import matching
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import SignatureInput, run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, database_url, unchanged
from tests.test_seed_qms import load_seeds
from tests.web.helpers import sign_in


def _report(folder) -> dict[str, Any]:
    return json.loads((folder / "validation-report.json").read_text(encoding="utf-8"))


def test_the_shipped_lims_qualifies_without_a_failure(lims_db, tmp_path, capsys):
    with unchanged(lims_db):
        code = cli.main(["--database", database_url(lims_db), "validate", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert re.search(r"\d+ cases in [\d.]+ s: \d+ passed, 0 failed", out)
    report = _report(tmp_path)
    assert report["counts"][FAILED] == 0
    assert report["counts"][PASSED] > 100
    assert report["database"] == lims_db.dialect
    assert re.fullmatch(r"[0-9a-f]{64}", report["configuration_hash"])
    ids = {case["id"] for case in report["cases"]}
    for expected in (
        "OQ-result-create-lab_technician",  # who may create
        "OQ-sample-numbering",
        "OQ-analysis-required-keyword",
        "OQ-audit-verify",
    ):
        assert expected in ids, expected
    case = next(c for c in report["cases"] if c["id"] == "OQ-analysis-required-keyword")
    assert set(case) == {
        "id",
        "area",
        "serves",
        "title",
        "inputs",
        "expected",
        "observed",
        "outcome",
    }
    html = (tmp_path / "validation-report.html").read_text(encoding="utf-8")
    assert report["configuration_hash"] in html and "Validation review" in html
    pdf = tmp_path / "validation-report.pdf"
    if pdf.exists():
        assert pdf.read_bytes().startswith(b"%PDF-")
    else:  # a machine without the Pango libraries: the command says so
        assert "no PDF: the Pango libraries are missing" in out


def _contradictory_type() -> dict[str, Any]:
    """A limit its own rule forbids: the value the field may hold, the rule refuses."""
    return {
        "key": "gauge",
        "label": "Gauge",
        "plural": "Gauges",
        "numbering": "G-{####}",
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": True},
            {"key": "reading", "label": "Reading", "type": "decimal", "max": 5, "precision": 1},
            {"key": "drawing", "label": "Drawing", "type": "attachment"},
        ],
        "rules": [
            {
                "expression": "reading is None or reading < 5",
                "message": "Readings of 5 and above are refused.",
                "fields": ["reading"],
            }
        ],
    }


def test_a_contradictory_configuration_fails_the_case_that_shows_it(db, tmp_path, capsys):
    add_roles(db, "analyst")
    with db.write() as conn:
        publish_type(conn, SYSTEM, _contradictory_type())
    report = qualify(db)
    failed = [case for case in report.cases if case.outcome == FAILED]
    assert [case.id for case in failed] == ["OQ-gauge-max-reading-at"]
    precision = next(case for case in report.cases if case.id == "OQ-gauge-precision-reading")
    assert precision.outcome == PASSED and precision.inputs == "1.01"
    assert (
        "Readings of 5 and above are refused" in failed[0].observed
        or "refused" in failed[0].observed
    )
    code = cli.main(
        ["--database", database_url(db), "validate", "--no-pdf", "--out", str(tmp_path)]
    )
    capsys.readouterr()
    assert code != 0, "a failed case fails the command"


def test_what_cannot_be_derived_is_a_manual_case_with_its_reason(db):
    add_roles(db, "analyst")
    definition = _contradictory_type()
    definition["fields"][2]["required"] = True  # a file nobody can make up
    with db.write() as conn:
        publish_type(conn, SYSTEM, definition)
    cases = {case.id: case for case in qualify(db).cases}
    fields = cases["OQ-gauge-fields"]
    assert fields.outcome == MANUAL
    assert "Drawing (attachment)" in fields.observed
    assert cases["OQ-audit-verify"].outcome == PASSED


@pytest.mark.parametrize(
    "pattern",
    [r"^[A-Z][A-Z0-9_]{1,19}$", r"^[A-Z0-9][A-Z0-9-]{1,19}$", r"^(SOP|WI)-\d{3}$", r"^\w+@lab$"],
)
def test_a_value_matching_a_pattern_is_made_up(pattern):
    made = matching(pattern)
    assert made is not None and re.search(pattern, made)


def test_a_pattern_that_cannot_be_walked_gives_none():
    assert matching(r"^(?!X)[^A]+$") is None


def test_a_signed_step_opened_to_everyone_fails_the_case_that_names_it(lims_db, tmp_path, capsys):
    with lims_db.write() as conn:
        flow = dict(versions.current(conn, WORKFLOW_KIND, "sample_lifecycle")[1])
        flow["transitions"] = [
            {**t, "roles": ["*"]} if t["key"] == "release" else t for t in flow["transitions"]
        ]
        publish_workflow(conn, SYSTEM, flow)
    code = cli.main(
        ["--database", database_url(lims_db), "validate", "--no-pdf", "--out", str(tmp_path)]
    )
    out, _ = capsys.readouterr()
    assert code != 0 and " 1 failed" in out
    (failed,) = [c for c in _report(tmp_path)["cases"] if c["outcome"] == FAILED]
    assert failed["id"] == "OQ-sample-release-roles-named"
    assert failed["observed"] == "Release is open to every signed-in user"


def test_workflow_steps_are_run_by_each_role_signed_and_refused(lims_db):
    cases = {case.id: case for case in qualify(lims_db).cases}
    assert cases["OQ-sample-release-role-qa"].outcome == PASSED
    assert "signed 'Approved for release': yes" in cases["OQ-sample-release-role-qa"].observed
    assert cases["OQ-sample-release-role-lab_technician"].outcome == PASSED
    assert "refused (403)" in cases["OQ-sample-release-role-lab_technician"].observed
    wrong = cases["OQ-sample-release-wrong-password"]
    assert wrong.outcome == PASSED and "refusal on the audit trail: yes" in wrong.observed
    assert cases["OQ-sample-reject-reason"].outcome == PASSED
    holds, fails = cases["OQ-result-review-guard-true"], cases["OQ-result-review-guard-false"]
    assert (holds.outcome, fails.outcome) == (PASSED, PASSED)
    assert (
        "{'required_reviews': 2}: refused (422): This analysis needs two reviews" in fails.observed
    )
    related = cases["OQ-sample-release-guard-true"]
    assert related.outcome == MANUAL and "reads related records" in related.observed
    by_step = cases["OQ-result-second_review-separation-step-first_review"]
    assert by_step.outcome == PASSED and "moved to first_reviewed; then refused" in by_step.observed
    author = cases["OQ-result-review-separation-author-value"]
    assert author.outcome == PASSED and "refused (403)" in author.observed
    assert cases["OQ-result-enter-role-lab_technician"].outcome == MANUAL, "its guard needs a value"
    assert "Enter the result first" in cases["OQ-result-enter-role-lab_technician"].observed


def test_fields_locked_in_a_state_are_refused_and_the_open_ones_saved(lims_db):
    cases = {case.id: case for case in qualify(lims_db).cases}
    locked = cases["OQ-sample-state-released-locked-client"]
    assert locked.outcome == PASSED
    assert "cannot be changed in the record's current state" in locked.observed
    assert cases["OQ-sample-state-in_testing-open-amount"].outcome == PASSED


def test_each_print_template_prints_a_made_up_record(lims_db):
    cases = {case.id: case for case in qualify(lims_db).cases}
    for key in ("certificate_of_analysis", "sample_label"):
        case = cases[f"OQ-print-{key}"]
        assert case.outcome == PASSED, case.observed
        assert re.search(r"printed 1 page\(s\) with SMP-\d{4}-\d{5}", case.observed)


def test_a_recorded_run_is_signed_by_a_validation_reviewer(db, tmp_path, capsys, make_person):
    assert load_seeds(db, tmp_path, "lims", "validation") == ["lims 1.0", "validation 1.0"]
    code = cli.main(
        [
            "--database",
            database_url(db),
            "validate",
            "--no-pdf",
            "--out",
            str(tmp_path / "oq"),
            "--record",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    number = re.search(r"Recorded as validation run (VAL-\d{4}-\d{3})", out).group(1)
    vera = make_person("vera", "validation_reviewer")
    with db.read() as conn:
        (run,) = list_records(conn, type_model(conn, "validation_run"), ListQuery())["items"]
    assert run["number"] == number and run["state"] == "recorded"
    assert run["data"]["failed"] == 0 and run["data"]["cases"] > 100
    signed = run_transition(
        db,
        vera.principal,
        "validation_run",
        run["id"],
        "review",
        signature=SignatureInput("vera", TEST_PASSWORD),
        with_signatures=True,
    )
    assert signed["state"] == "reviewed"
    assert [s["meaning"] for s in signed["signatures"]] == ["Validation review"]


def test_recording_without_the_validation_bundle_says_how_and_keeps_the_report(
    lims_db, tmp_path, capsys
):
    code = cli.main(
        [
            "--database",
            database_url(lims_db),
            "validate",
            "--no-pdf",
            "--out",
            str(tmp_path),
            "--record",
        ]
    )
    out, err = capsys.readouterr()
    assert code != 0 and "load the 'validation' bundle" in err
    assert "Traceback" not in out + err
    assert (tmp_path / "validation-report.html").is_file(), "the report is written first"


def test_a_change_requests_proposed_configuration_is_qualified_and_shown_on_it(
    db, tmp_path, capsys, client, make_person
):
    load_seeds(db, tmp_path, "lims", "validation")
    with db.read() as conn:
        flow = dict(versions.current(conn, WORKFLOW_KIND, "sample_lifecycle")[1])
    flow["transitions"] = [
        {**t, "roles": ["*"]} if t["key"] == "release" else t for t in flow["transitions"]
    ]
    with db.write() as conn:
        change = propose(
            conn,
            SYSTEM,
            title="Anyone may release",
            reason="A test of the validation of a proposal",
            items=[ProposedItem("workflow", "sample_lifecycle", flow)],
        )
    with unchanged(db):  # the proposal is qualified on a copy: nothing active changes
        code = cli.main(
            [
                "--database",
                database_url(db),
                "validate",
                "--no-pdf",
                "--change",
                str(change.id),
                "--out",
                str(tmp_path / "oq"),
            ]
        )
    out, _ = capsys.readouterr()
    assert code != 0 and " 1 failed" in out
    report = _report(tmp_path / "oq")
    assert report["change_request"] == change.label
    (failed,) = [c for c in report["cases"] if c["outcome"] == FAILED]
    assert failed["id"] == "OQ-sample-release-roles-named"

    cli.main(
        [
            "--database",
            database_url(db),
            "validate",
            "--no-pdf",
            "--change",
            str(change.id),
            "--out",
            str(tmp_path / "oq2"),
            "--record",
        ]
    )
    capsys.readouterr()
    make_person("vera", "validation_reviewer", permissions=("read_audit", "configure"))
    sign_in(client, "vera", TEST_PASSWORD)
    page = client.get(f"/admin/changes/{change.id}").text
    section = page[page.index('id="validation-runs"') :].split("</section>")[0]
    assert re.search(r"VAL-\d{4}-\d{3}</a>", section) and "<td>1</td>" in section


def test_access_patterns_precision_and_entry_requirements_are_qualified(lims_db):
    cases = {case.id: case for case in qualify(lims_db).cases}
    for passed in (
        "OQ-sample-read-lab_technician",
        "OQ-sample-edit-lab_technician",
        "OQ-sample-edit-qa",  # QA may not change samples: refused, as configured
        "OQ-analysis-pattern-keyword",
        "OQ-sample-numbering",
    ):
        assert cases[passed].outcome == PASSED, (passed, cases[passed].observed)
    assert "refused" in cases["OQ-sample-edit-qa"].observed
    assert ", the next " in cases["OQ-sample-numbering"].observed
