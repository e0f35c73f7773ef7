"""What a change does to a dashboard, in words: its name, who may open it, its panels.

No dashboard change weakens a control. Opening a dashboard lets a person read
no record they could not read before: every panel counts only records of a
type the person may read (``dashboards.panels``), so adding a role to a
dashboard shows its holders counts of what they may already list.

Panels are matched by key, so a panel renamed or pointed at other steps is
told as that panel changed, not as one removed and another added.
"""

from __future__ import annotations

from collections.abc import Mapping

from msgspec import UNSET

from labledger.changes.pairing import paired, reordered
from labledger.changes.statements import Names, Statement
from labledger.changes.wording import change_of, listing, quoted
from labledger.metadata.spec import DashboardSpec, PanelSpec
from labledger.metadata.spec.dashboard import (
    CountsByStatePanel,
    OverduePanel,
    RatePanel,
    TurnaroundPanel,
)

#: The settings of a panel as a reviewer names them, in the order they are told.
PANEL_WORDS: Mapping[str, str] = {
    "states": "states shown",
    "from_": "from step",
    "to": "to step",
    "field": "yes/no field",
    "weeks": "weeks shown",
    "unit": "unit",
}


def _roles(keys: tuple[str, ...], names: Names) -> str:
    return listing(names.role_name(key) for key in keys)


def _counts(panel: PanelSpec, names: Names) -> str:
    """What a panel counts: 'overdue "Samples"', '"Samples" per state'."""
    records = names.type_name(panel.type)
    if isinstance(panel, CountsByStatePanel):
        return f"{records} per state"
    if isinstance(panel, OverduePanel):
        return f"overdue {records}"
    if isinstance(panel, TurnaroundPanel):
        return (
            f"{records} from step {quoted(panel.from_)} to step {quoted(panel.to)}, "
            f"per week, in {panel.unit}"
        )
    assert isinstance(panel, RatePanel)
    return f"share of {records} per week whose {names.field_name(panel.field)} is yes"


def describe_dashboard(
    old: DashboardSpec | None, new: DashboardSpec, names: Names
) -> list[Statement]:
    subject = f"Dashboard {quoted(new.label)}"
    if old is None:
        found = [
            Statement(subject, f"New dashboard {quoted(new.label)} for {_roles(new.roles, names)}")
        ]
        return found + [_panel(None, panel, names)[0] for panel in new.panels]
    found = []
    if old.label != new.label:
        found.append(
            Statement(subject, f"Dashboard {quoted(old.label)} renamed to {quoted(new.label)}")
        )
    if old.description != new.description:
        found.append(Statement(subject, f"{subject}: description changed"))
    if set(old.roles) != set(new.roles):
        text = (
            f"{subject} now opens for {_roles(new.roles, names)} (was {_roles(old.roles, names)})"
        )
        found.append(Statement(subject, text))
    for was, now in paired(old.panels, new.panels, lambda panel: panel.key):
        found += _panel(was, now, names)
    if reordered(old.panels, new.panels, lambda panel: panel.key):
        found.append(Statement(subject, f"{subject}: panels reordered"))
    return found


def _panel(old: PanelSpec | None, new: PanelSpec | None, names: Names) -> list[Statement]:
    panel = new or old
    assert panel is not None
    subject = f"Panel {quoted(panel.label)}"
    if old is None:
        return [Statement(subject, f"{subject} added: {_counts(panel, names)}")]
    if new is None:
        return [Statement(subject, f"{subject} removed")]
    found = []
    if old.label != new.label:
        text = f"Panel {quoted(old.label)} renamed to {quoted(new.label)}"
        found.append(Statement(subject, text))
    if (old.kind, old.type) != (new.kind, new.type):
        text = f"{subject} now shows {_counts(new, names)} (was {_counts(old, names)})"
        return [*found, Statement(subject, text)]
    for name, words in PANEL_WORDS.items():
        was, now = getattr(old, name, UNSET), getattr(new, name, UNSET)
        if was != now:
            found.append(Statement(subject, f"{subject}: {change_of(words, was, now)}"))
    return found
