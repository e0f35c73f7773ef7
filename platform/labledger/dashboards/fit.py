"""A panel against the configuration as it stands: the type it counts, and the
states, transitions and fields it names.

Publishing refuses a dashboard with a panel that does not fit, each problem
located in the panel. A type or workflow may change after its dashboards
were published (a state removed, a field renamed), so the same check runs
again whenever a panel is counted: a panel that no longer fits says so
instead of counting something else.
"""

from __future__ import annotations

from msgspec import UNSET
from sqlalchemy import Connection

from labledger.db.jsonfields import BOOLEAN
from labledger.errors import NotFound
from labledger.metadata.fieldtypes import sql_kind
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.dashboard import (
    CountsByStatePanel,
    OverduePanel,
    PanelSpec,
    RatePanel,
    TurnaroundPanel,
)
from labledger.metadata.types import type_model
from labledger.workflows.model import WorkflowModel, workflow_model

#: (path inside the panel, e.g. ``.states[1]``, message).
Problem = tuple[str, str]


def panel_problems(conn: Connection, panel: PanelSpec) -> list[Problem]:
    """Every reason ``panel`` cannot be counted now ([]: it fits)."""
    try:
        model = type_model(conn, panel.type)
    except NotFound:
        return [(".type", f"there is no object type '{panel.type}'")]
    if isinstance(panel, OverduePanel):
        return [] if model.spec.due_field else [(".type", f"{model.label} has no due_field")]
    if isinstance(panel, RatePanel):
        return _flag_problems(model, panel.field)
    workflow = _workflow(conn, model)
    if workflow is None:
        return [(".type", f"{model.label} has no workflow, so no states or transitions")]
    if isinstance(panel, CountsByStatePanel):
        named = () if panel.states is UNSET else panel.states
        return [
            (f".states[{index}]", f"'{state}' is not a state of workflow '{workflow.key}'")
            for index, state in enumerate(named)
            if state not in workflow.state_specs
        ]
    return _transition_problems(workflow, panel)


def _workflow(conn: Connection, model: TypeModel) -> WorkflowModel | None:
    if not model.workflow:
        return None
    try:
        return workflow_model(conn, model.workflow)
    except NotFound:
        return None


def _transition_problems(workflow: WorkflowModel, panel: TurnaroundPanel) -> list[Problem]:
    problems = [
        (f".{name}", f"'{key}' is not a transition of workflow '{workflow.key}'")
        for name, key in (("from", panel.from_), ("to", panel.to))
        if key not in workflow.transition_specs
    ]
    if panel.from_ == panel.to:
        problems.append((".to", "must differ from 'from': a turnaround runs between two steps"))
    return problems


def _flag_problems(model: TypeModel, key: str) -> list[Problem]:
    field = model.field_specs.get(key)
    if field is None:
        return [(".field", f"{model.label} has no field '{key}'")]
    if sql_kind(field) != BOOLEAN:
        return [
            (
                ".field",
                f"'{key}' is not a yes/no field: a boolean field, or a computed field "
                "whose result_type is boolean",
            )
        ]
    return []
