"""A separation rule may keep the authors of named fields from a step.

The behaviour on the shipped LIMS review is in ``test_seed_lims_rules``; this
file covers the definition: only fields of the type may be named.
"""

from __future__ import annotations

import copy

import pytest

from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from labledger.workflows.definitions import publish_workflow
from tests.definitions import add_roles
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type


@pytest.mark.requirement("REQ-WF-03")
def test_a_separation_names_only_fields_of_the_type(db):
    add_roles(db, "analyst", "reviewer", "qa")
    flow = copy.deepcopy(TASK_FLOW)
    flow["transitions"][1]["separation"]["authors_of"] = ["value", "nope"]
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, flow)
        publish_workflow(conn, SYSTEM, JOB_FLOW)
        publish_type(
            conn, SYSTEM, job_type(), context=definition_context(conn, "job", extra_types={"task"})
        )
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        publish_type(conn, SYSTEM, task_type())
    assert [e.message for e in caught.value.errors] == [
        "workflow 'task_flow' transitions[1].separation.authors_of[1]: "
        "names unknown field 'nope' (for type 'task')"
    ]
