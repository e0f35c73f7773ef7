"""The readable diff of a configuration change (changes/readable.py): what QA reads
before signing a change request, and which statements weaken a control.

Built from the shipped LIMS configuration (seeds/lims) and edited copies of it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from msgspec.structs import replace

from labledger.changes.readable import Names, Statement, describe_change, weakening
from labledger.metadata.spec import SPECS, WorkflowSpec, decode
from labledger.metadata.spec.stored import decode_stored
from labledger.resources import data_path
from tests.metadata_corpus import donors_of, planned_mutations, units

LIMS: dict[str, Any] = json.loads(
    data_path("seeds", "lims", "bundle.json").read_text(encoding="utf-8")
)
#: The bundle's members by the configuration kind each is stored as.
MEMBERS = {
    "role": "roles",
    "workflow": "workflows",
    "object_type": "types",
    "mapping": "mappings",
    "print_template": "print_templates",
}
ROLE_LABELS = {role["key"]: role["label"] for role in LIMS["roles"]}


def item(kind: str, key: str) -> dict[str, Any]:
    """A copy of the shipped ``kind`` item ``key``, free to edit."""
    found = next(x for x in LIMS[MEMBERS[kind]] if x["key"] == key)
    return copy.deepcopy(found)


def member(definition: dict[str, Any], collection: str, key: str) -> dict[str, Any]:
    """The state, transition or field ``key`` inside ``definition``, to edit in place."""
    return next(x for x in definition[collection] if x["key"] == key)


def names_for(type_key: str) -> Names:
    """The labels a reviewer of the workflow or mapping of ``type_key`` would see."""
    return Names(
        roles=ROLE_LABELS,
        fields={f["key"]: f["label"] for f in item("object_type", type_key)["fields"]},
        types={t["key"]: t["label"] for t in LIMS["types"]},
        workflows={w["key"]: w["label"] for w in LIMS["workflows"]},
    )


def texts(statements: list[Statement]) -> list[str]:
    return [s.text for s in statements]


Edit = Callable[[dict[str, Any]], None]


def workflow_edited(key: str, type_key: str, edit: Edit) -> list[Statement]:
    """The statements for the shipped workflow ``key`` (of ``type_key``) changed by ``edit``."""
    old = item("workflow", key)
    new = copy.deepcopy(old)
    edit(new)
    return describe_change("workflow", old, new, names_for(type_key))


def sample_lifecycle_edited(edit: Edit) -> list[Statement]:
    return workflow_edited("sample_lifecycle", "sample", edit)


def review_flow_edited(edit: Edit) -> list[Statement]:
    return workflow_edited("result_review", "result", edit)


# --- nothing changed ---


@pytest.mark.parametrize("kind", list(MEMBERS))
def test_an_unchanged_definition_reads_as_nothing(kind: str) -> None:
    for shipped in LIMS[MEMBERS[kind]]:
        assert describe_change(kind, shipped, copy.deepcopy(shipped)) == []


def test_a_default_spelled_out_is_no_change() -> None:
    """Definitions are compared as the structs read them, not as JSON."""
    old = item("object_type", "sample")
    new = copy.deepcopy(old)
    member(new, "fields", "amount")["required"] = False
    new["require_reason"] = False
    assert old != new
    assert describe_change("object_type", old, new) == []


# --- workflows: signatures, roles, separation, reasons, guards ---


@pytest.mark.requirement("REQ-CHG-04")
def test_removing_the_release_signature_weakens_it() -> None:
    def unsign(flow: dict[str, Any]) -> None:
        del member(flow, "transitions", "release")["signature"]

    assert sample_lifecycle_edited(unsign) == [
        Statement('Transition "Release"', "Release no longer requires a signature", True)
    ]


def test_a_signature_that_now_means_something_else_weakens() -> None:
    def reword(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "release")["signature"] = {"meaning": "Seen"}

    assert sample_lifecycle_edited(reword) == [
        Statement(
            'Transition "Release"',
            'Release is now signed meaning "Seen" (was "Approved for release")',
            True,
        )
    ]


def test_a_signature_added_does_not_weaken() -> None:
    def sign(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "cancel")["signature"] = {"meaning": "Cancelled"}

    found = sample_lifecycle_edited(sign)
    assert texts(found) == ['Cancel now requires a signature meaning "Cancelled"']
    assert weakening(found) == []


def test_widening_a_transitions_role_list_weakens() -> None:
    def widen(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "release")["roles"].append("lab_technician")

    assert sample_lifecycle_edited(widen) == [
        Statement('Transition "Release"', 'Release may now be done by "Lab technician"', True)
    ]


def test_everyone_may_run_a_transition_weakens_and_more_roles_beside_everyone_do_not() -> None:
    def everyone(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "release")["roles"] = ["*"]

    found = sample_lifecycle_edited(everyone)
    assert found[0] == Statement(
        'Transition "Release"', "Release may now be done by everyone", True
    )
    assert texts(found[1:]) == [
        'Release may no longer be done by "Lab manager", "Quality assurance"'
    ]
    assert weakening(found[1:]) == []

    old = item("workflow", "sample_lifecycle")
    member(old, "transitions", "release")["roles"] = ["*"]
    new = copy.deepcopy(old)
    member(new, "transitions", "release")["roles"] = ["*", "qa"]
    assert describe_change("workflow", old, new) == [
        Statement('Transition "Release"', 'Release may now be done by "qa"', False)
    ]


def test_emptying_a_role_list_lets_nobody_run_it_by_hand_which_does_not_weaken() -> None:
    def empty(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "cancel")["roles"] = []

    found = sample_lifecycle_edited(empty)
    assert texts(found) == [
        'Cancel may no longer be done by "Lab manager", "Quality assurance"',
        "Cancel may now be done by nobody by hand (it runs only automatically)",
    ]
    assert weakening(found) == []


def test_removing_a_required_reason_weakens_and_requiring_one_does_not() -> None:
    def drop_reason(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "reject")["reason_required"] = False
        member(flow, "transitions", "release")["reason_required"] = True

    assert sample_lifecycle_edited(drop_reason) == [
        Statement('Transition "Release"', "Release now requires a reason", False),
        Statement('Transition "Reject"', "Reject no longer requires a reason", True),
    ]


def test_separation_of_duties_removed_weakens() -> None:
    def drop(flow: dict[str, Any]) -> None:
        del member(flow, "transitions", "review")["separation"]

    assert review_flow_edited(drop) == [
        Statement('Transition "Review"', "Review no longer requires separation of duties", True)
    ]


def test_separation_of_duties_relaxed_weakens_and_tightened_does_not() -> None:
    def relax(flow: dict[str, Any]) -> None:
        separation = member(flow, "transitions", "second_review")["separation"]
        separation["transitions"] = ["enter"]
        separation["authors_of"] = ["value"]
        separation["creator"] = True

    assert review_flow_edited(relax) == [
        Statement(
            'Transition "Second review"',
            "Second review may no longer be done by the record's creator",
            False,
        ),
        Statement(
            'Transition "Second review"',
            'Second review may now be done by whoever did "First review"',
            True,
        ),
        Statement(
            'Transition "Second review"',
            'Second review may now be done by whoever entered "Result (text)"',
            True,
        ),
    ]


def test_separation_of_duties_added_reads_whole() -> None:
    def separate(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "invalidate")["separation"] = {
            "creator": True,
            "transitions": ["enter"],
        }

    assert review_flow_edited(separate) == [
        Statement(
            'Transition "Invalidate"',
            "Invalidate now requires separation of duties: not by the record's creator, "
            'not by whoever did "Submit result"',
            False,
        )
    ]


def test_a_guard_removed_weakens_and_a_guard_changed_is_told_whole() -> None:
    def edit(flow: dict[str, Any]) -> None:
        del member(flow, "transitions", "release")["guard"]
        member(flow, "transitions", "to_review")["guard"] = "true"

    found = sample_lifecycle_edited(edit)
    assert found[0].text.startswith('Send to review now runs only when "true" (was "all_refer')
    assert not found[0].weakens
    assert found[1] == Statement(
        'Transition "Release"',
        "Release no longer checks \"not contains(referencing_values('result', 'sample', "
        "'analyst'), user.username)\"",
        True,
    )
    assert len(found) == 2


def test_actions_added_and_removed() -> None:
    def edit(flow: dict[str, Any]) -> None:
        step = member(flow, "transitions", "release")
        step["actions"] = step["actions"][:1]
        member(flow, "transitions", "cancel")["actions"] = [
            {"type": "set", "field": "remarks", "expression": "'cancelled'"}
        ]

    assert texts(sample_lifecycle_edited(edit)) == [
        'Release no longer sets "Released by" to "user.username"',
        'Cancel now also sets "Remarks" to "\'cancelled\'"',
    ]


def test_a_route_changed() -> None:
    def edit(flow: dict[str, Any]) -> None:
        step = member(flow, "transitions", "cancel")
        step["from"] = ["registered", "awaiting_review"]
        step["to"] = "rejected"

    assert texts(sample_lifecycle_edited(edit)) == [
        'Cancel can now start from "Awaiting review"',
        'Cancel can no longer start from "Received", "In testing"',
        'Cancel now leads to "Rejected" (was "Cancelled")',
    ]


# --- workflows: states ---


def test_a_locked_field_unlocked_weakens_and_locking_one_does_not() -> None:
    def edit(flow: dict[str, Any]) -> None:
        editable = member(flow, "states", "awaiting_review")["editable"]
        editable.remove("remarks")
        editable.append("amount")

    found = sample_lifecycle_edited(edit)
    assert found == [
        Statement(
            'State "Awaiting review"', 'State "Awaiting review" lets "Amount" be edited', True
        ),
        Statement('State "Awaiting review"', 'State "Awaiting review" locks "Remarks"', False),
    ]


def test_a_state_opened_to_every_field_weakens() -> None:
    def open_up(flow: dict[str, Any]) -> None:
        member(flow, "states", "reviewed")["editable"] = "all"

    [statement] = review_flow_edited(open_up)
    assert statement.text == (
        'State "Reviewed" lets every field be edited (before: no field may be edited)'
    )
    assert statement.weakens


def test_a_state_no_longer_needing_a_field_weakens() -> None:
    def edit(flow: dict[str, Any]) -> None:
        member(flow, "states", "released")["required"] = ["released_at"]
        member(flow, "states", "rejected")["required"] = ["remarks"]

    assert sample_lifecycle_edited(edit) == [
        Statement(
            'State "Released"',
            'State "Released" no longer needs "Released by" filled in to enter it',
            True,
        ),
        Statement(
            'State "Rejected"', 'State "Rejected" now needs "Remarks" filled in to enter it', False
        ),
    ]


def test_a_removed_state_and_transition_come_states_first() -> None:
    def drop(flow: dict[str, Any]) -> None:
        flow["transitions"] = [t for t in flow["transitions"] if t["key"] != "cancel"]
        flow["states"] = [s for s in flow["states"] if s["key"] != "cancelled"]
        member(flow, "transitions", "receive")["reason_required"] = True

    assert texts(sample_lifecycle_edited(drop)) == [
        'State "Cancelled" removed',
        "Receive now requires a reason",
        'Transition "Cancel" removed',
    ]


def test_a_new_workflow_lists_its_states_and_transitions_with_signatures_and_roles() -> None:
    flow = item("workflow", "sample_lifecycle")
    found = describe_change("workflow", None, flow, names_for("sample"))
    assert found[0] == Statement('Workflow "Sample lifecycle"', 'New workflow "Sample lifecycle"')
    assert [s.subject for s in found[1:]] == [
        *(f'State "{s["label"]}"' for s in flow["states"]),
        *(f'Transition "{t["label"]}"' for t in flow["transitions"]),
    ]
    release = next(s for s in found if s.subject == 'Transition "Release"')
    assert release.text.startswith(
        'New transition "Release": from "Awaiting review" to "Released"; '
        'by "Lab manager", "Quality assurance"; signed, meaning "Approved for release"; '
    )
    registered = found[1]
    assert registered.text.startswith('New state "Registered": initial, only "Sample type", ')
    assert weakening(found) == []


# --- object types ---


def result_type_with_ph(limit: float) -> dict[str, Any]:
    """The shipped result type, its value field relabelled "pH" with an upper limit."""
    definition = item("object_type", "result")
    value = member(definition, "fields", "value")
    value.update(label="pH", max=limit)
    return definition


def test_a_ph_upper_limit_raised_reads_as_such() -> None:
    found = describe_change("object_type", result_type_with_ph(8.5), result_type_with_ph(9.0))
    assert found == [Statement('Field "pH"', 'Field "pH": upper limit 8.5 → 9.0', False)]


def test_a_field_added_is_told_in_definition_order() -> None:
    old = item("object_type", "analysis")
    new = copy.deepcopy(old)
    ph = {"key": "ph", "label": "pH", "type": "decimal", "min": 0, "max": 14, "required": True}
    new["fields"].insert(2, ph)
    member(new, "fields", "keyword")["required"] = False
    member(new, "fields", "active")["help"] = "Still used."
    assert describe_change("object_type", old, new) == [
        Statement('Field "Keyword"', 'Field "Keyword" is no longer required', True),
        Statement('Field "pH"', 'New field "pH": number, required, lower limit 0, upper limit 14'),
        Statement('Field "In use"', 'Field "In use": help text changed'),
    ]


def test_field_changes_read_in_words() -> None:
    old = item("object_type", "sample")
    new = copy.deepcopy(old)
    member(new, "fields", "amount").update(label="Quantity", max_length=100)
    member(new, "fields", "sample_type").update(to="analysis")
    priority = member(new, "fields", "priority")
    priority.update(default="urgent", required=False)
    priority["options"] = [*priority["options"][:2], {"value": "batch", "label": "Batch"}]
    member(new, "fields", "collected_by")["type"] = "user"
    del member(new, "fields", "collected_by")["max_length"]
    member(new, "fields", "due_date")["default_expression"] = "today()"
    assert texts(describe_change("object_type", old, new, names_for("sample"))) == [
        'Field "Sample type" now refers to "Analysis" (was "Sample type")',
        'Field "Collected by" changes type: text → user',
        'Field "Collected by": maximum length 200 removed',
        'Field "Amount" renamed to "Quantity"',
        'Field "Quantity": maximum length 60 → 100',
        'Field "Priority" is no longer required',
        'Field "Priority": default "routine" → "urgent"',
        'Field "Priority": option "Batch" added',
        'Field "Priority": option "Stat (same day)" removed',
        'Field "Due": default calculation '
        "\"add_days(today(), 0 if priority == 'stat' else (3 if priority == 'urgent' else 10))\" "
        '→ "today()"',
    ]


def test_a_field_written_only_by_the_system_opened_to_people_weakens() -> None:
    old = item("object_type", "sample")
    member(old, "fields", "released_by")["system_set"] = True
    new = copy.deepcopy(old)
    del member(new, "fields", "released_by")["system_set"]
    member(new, "fields", "parent")["read_only"] = False
    del member(new, "fields", "derivation")["required_if"]
    assert describe_change("object_type", old, new) == [
        Statement(
            'Field "Parent sample"',
            'Field "Parent sample" can now be changed after a record is created',
            True,
        ),
        Statement(
            'Field "Aliquot or partition"',
            'Field "Aliquot or partition": required when "parent is not None" removed',
            True,
        ),
        Statement(
            'Field "Released by"',
            'Field "Released by" can now be written by people, not only by the system',
            True,
        ),
    ]


def test_a_computed_expression_changed() -> None:
    old = item("object_type", "result")
    new = copy.deepcopy(old)
    member(new, "fields", "in_warning")["expression"] = "false"
    [statement] = describe_change("object_type", old, new)
    assert statement.text == (
        'Field "In warning band": calculation '
        '"not out_of_spec and (value < warn_low or value > warn_high)" → "false"'
    )


def test_type_level_changes_come_before_fields() -> None:
    old = item("object_type", "sample")
    new = copy.deepcopy(old)
    member(new, "fields", "client")["label"] = "Client"
    new.update(label="Specimen", plural="Specimens", require_reason=True)
    new["permissions"]["edit"] = ["lab_manager", "qa"]
    new["sections"][2]["label"] = "Planning"
    new["rules"] = new["rules"][:1]
    found = describe_change("object_type", old, new, names_for("sample"))
    assert found == [
        Statement('Type "Specimen"', 'Type "Sample" renamed to "Specimen"'),
        Statement('Type "Specimen"', 'Type "Specimen": plural "Samples" → "Specimens"'),
        Statement(
            'Type "Specimen"', 'Type "Specimen": every change after creation now needs a reason'
        ),
        Statement(
            'Type "Specimen"',
            'Type "Specimen": editing records granted to "Quality assurance"',
            True,
        ),
        Statement(
            'Type "Specimen"', 'Type "Specimen": editing records withdrawn from "Lab technician"'
        ),
        Statement('Type "Specimen"', 'Type "Specimen": section "Priority" renamed to "Planning"'),
        Statement(
            'Type "Specimen"',
            'Type "Specimen": rule "This storage location is no longer in use: choose another." '
            "removed (\"referenced('storage_location') is None or "
            "referenced('storage_location').active != False\")",
            True,
        ),
        Statement('Field "Client"', 'Field "Client or source" renamed to "Client"'),
    ]


def test_everyone_granted_a_type_permission_weakens() -> None:
    old = item("object_type", "analysis")
    new = copy.deepcopy(old)
    new["permissions"]["create"].append("*")
    new["permissions"]["read"].append("qa")
    assert describe_change("object_type", old, new) == [
        Statement('Type "Analysis"', 'Type "Analysis": reading records granted to "qa"', False),
        Statement('Type "Analysis"', 'Type "Analysis": creating records granted to everyone', True),
    ]


def test_detaching_the_workflow_weakens() -> None:
    old = item("object_type", "sample")
    new = copy.deepcopy(old)
    del new["workflow"]
    assert describe_change("object_type", old, new, names_for("sample")) == [
        Statement(
            'Type "Sample"',
            'Type "Sample": records no longer follow a workflow (was "Sample lifecycle")',
            True,
        )
    ]


def test_a_new_type_lists_its_fields_briefly() -> None:
    sample = item("object_type", "sample")
    found = describe_change("object_type", None, sample, names_for("sample"))
    labels = ", ".join(f'"{f["label"]}"' for f in sample["fields"])
    assert texts(found) == [
        f'New type "Sample" (plural "Samples", numbered "SMP-{{YYYY}}-{{#####}}") '
        f"with fields {labels}",
        'Type "Sample" follows workflow "Sample lifecycle"',
        'Type "Sample": records may be read by everyone; created by "Lab technician", '
        '"Lab manager"; edited by "Lab technician", "Lab manager"',
    ]
    assert weakening(found) == []


def test_labels_stand_for_keys_only_when_names_give_them() -> None:
    old = item("object_type", "sample")
    new = copy.deepcopy(old)
    new["permissions"]["create"] = ["lab_manager", "reviewer"]
    assert texts(describe_change("object_type", old, new)) == [
        'Type "Sample": creating records granted to "reviewer"',
        'Type "Sample": creating records withdrawn from "lab_technician"',
    ]


# --- roles, mappings, print templates ---


def test_a_role_granted_a_system_permission_weakens() -> None:
    old = item("role", "qa")
    new = {**old, "label": "QA reviewer", "permissions": ["configure"]}
    assert describe_change("role", old, new) == [
        Statement('Role "QA reviewer"', 'Role "Quality assurance" renamed to "QA reviewer"'),
        Statement(
            'Role "QA reviewer"', 'Role "QA reviewer" now grants: configure the system', True
        ),
        Statement(
            'Role "QA reviewer"',
            'Role "QA reviewer" no longer grants: read the audit trail, '
            "approve configuration changes",
        ),
    ]


def test_a_new_role_with_a_system_permission_weakens() -> None:
    found = describe_change("role", None, item("role", "lab_manager"))
    assert found == [
        Statement('Role "Lab manager"', 'New role "Lab manager"'),
        Statement(
            'Role "Lab manager"', 'Role "Lab manager" now grants: read the audit trail', True
        ),
    ]


def test_a_mapping_column_now_mapped_from_another_column() -> None:
    old = item("mapping", "instrument_results")
    new = copy.deepcopy(old)
    new["columns"][0]["source"] = "PH value"
    new["mode"] = "row"
    assert texts(describe_change("mapping", old, new, names_for("result"))) == [
        'Import mapping "Instrument results by result number": '
        'mode (atomic: the whole file or nothing) "atomic" → "row"',
        'Column "Result" now maps from "PH value" (was "Value")',
    ]


def test_a_print_template_body_changed() -> None:
    old = item("print_template", "sample_label")
    new = copy.deepcopy(old)
    new["template"] += "<p>More</p>"
    assert describe_change("print_template", old, new) == [
        Statement(
            f'Print template "{old["label"]}"',
            f'Print template "{old["label"]}": template body changed',
        )
    ]


# --- new, removed, unreadable ---


@pytest.mark.parametrize("kind", list(MEMBERS))
def test_a_removed_item_is_one_statement(kind: str) -> None:
    for shipped in LIMS[MEMBERS[kind]]:
        [statement] = describe_change(kind, shipped, None)
        assert statement.text == f"{statement.subject} removed"
        assert f'"{shipped["label"]}"' in statement.subject


def test_a_document_the_schema_accepts_but_the_structs_refuse_is_told_by_property() -> None:
    """JSON Schema counts 10.0 as an integer, the structs do not (see
    test_metadata_spec_agreement): such a definition is still described."""
    old = item("object_type", "sample")
    new = copy.deepcopy(old)
    member(new, "fields", "amount")["max_length"] = 100.0
    new["plural"] = "Specimens"
    assert describe_change("object_type", old, new) == [
        Statement('Type "Sample"', 'Type "Sample": "plural" changed'),
        Statement('Type "Sample"', 'Type "Sample": "fields" changed'),
    ]


def _mutations(kind: str, sample: int) -> list[tuple[dict[str, Any], Any]]:
    """(document, a mutation of it) for an evenly spread sample of the mutations of the
    shipped ``kind`` items (see tests/metadata_corpus.py)."""
    shipped = LIMS[MEMBERS[kind]]
    donors = donors_of(shipped)
    planned = [
        (unit, make)
        for document in shipped
        for unit in units(kind, "", document)
        for _, make in planned_mutations(unit, donors)
    ]
    return [(unit, make()) for unit, make in planned[:: max(1, len(planned) // sample)]]


def _meaning(kind: str, document: Any) -> Any:
    """``document`` as the code reads it (an object type leniently, as stored), an
    empty list of editable fields being "none", which it means."""
    read = decode_stored if kind == "object_type" else decode
    spec = read(document, SPECS[kind])
    if isinstance(spec, WorkflowSpec):
        states = tuple(replace(state, editable=state.editable or "none") for state in spec.states)
        return replace(spec, states=states)
    return spec


@pytest.mark.parametrize(
    ("kind", "at_least"),
    [("role", 25), ("workflow", 80), ("object_type", 150), ("mapping", 20), ("print_template", 40)],
)
def test_every_mutation_reads_and_a_change_the_code_sees_is_never_silent(
    kind: str, at_least: int
) -> None:
    """Mutations of the shipped items read without failing, in both directions and as
    new items, whether the structs accept them or not; of those accepted, exactly
    the ones that change what the code reads give statements."""
    accepted = 0
    for document, mutated in _mutations(kind, 1500):
        if not isinstance(mutated, dict):
            continue
        for old, new in ((document, mutated), (mutated, document), (None, mutated)):
            assert all(s.subject and s.text for s in describe_change(kind, old, new))
        try:
            same = _meaning(kind, document) == _meaning(kind, mutated)
        except msgspec.ValidationError:
            continue
        accepted += 1
        assert (describe_change(kind, document, mutated) == []) == same, mutated
    assert accepted >= at_least


def test_a_webhook_sending_elsewhere_or_more_weakens() -> None:
    old = {"name": "erp", "url": "https://a.example/h", "kinds": ["record.created"], "active": True}
    moved = {**old, "url": "https://b.example/h"}
    assert describe_change("webhook", old, moved) == [
        Statement(
            'Webhook "erp"',
            'Webhook "erp" now sends to https://b.example/h (was https://a.example/h)',
            True,
        )
    ]
    (everything,) = describe_change("webhook", old, {**old, "kinds": []})
    assert everything.text == 'Webhook "erp" event kinds: all' and everything.weakens
    (narrower,) = describe_change("webhook", {**old, "kinds": []}, old)
    assert not narrower.weakens
    (paused,) = describe_change("webhook", old, {**old, "active": False})
    assert paused.text == 'Webhook "erp": active yes → no' and not paused.weakens
