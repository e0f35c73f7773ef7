"""Audit events of records as people read them: step labels, field labels, and old
and new values shown as the record page shows values.

The record page's history and the system-wide audit trail show the same events
and read them through here, so a change reads the same wherever it appears.
Labels come from the type's current definition: a field, state or step it no
longer has is shown by its key, never refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.audit.queries import event_label
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import TextField
from labledger.web.display import Formatter, Shown, utc_text
from labledger.workflows.model import workflow_model

#: How a change of state is shown: the state labels, as plain text.
_STATE = TextField(key="state", label="State")


@dataclass(frozen=True)
class Change:
    """One changed field of an event: its label and its old and new values, ready to show."""

    label: str
    old: Shown
    new: Shown


@dataclass(frozen=True)
class HistoryLabels:
    """What reading the events of one type takes: its field, state and step labels,
    and the numbers and file names its values point at.

    Loaded once for a list of events (a record's history, a page of the trail),
    so the lookups cost a few queries for the list, not a few per event.
    """

    model: TypeModel
    states: dict[str, str]
    transitions: dict[str, str]
    fmt: Formatter

    @classmethod
    def load(
        cls,
        conn: Connection,
        actor: Principal,
        model: TypeModel,
        events: list[dict[str, Any]],
        states: dict[str, str],
        attachment_base: str | None = None,
    ) -> HistoryLabels:
        values = [
            {key: change.get(side)}
            for e in events
            for key, change in (e["changes"] or {}).items()
            for side in ("old", "new")
        ]
        transitions: dict[str, str] = {}
        if model.workflow:
            workflow = workflow_model(conn, model.workflow)
            transitions = {k: t.label for k, t in workflow.transition_specs.items()}
        fmt = Formatter.load(conn, actor, model, values, attachment_base)
        return cls(model, states, transitions, fmt)

    def changes(self, event: dict[str, Any]) -> list[Change]:
        result = []
        for key, change in (event["changes"] or {}).items():
            old, new = change.get("old"), change.get("new")
            if key == "state":
                shown = Change(
                    "State",
                    self.fmt.value(_STATE, self.states.get(old, old)),
                    self.fmt.value(_STATE, self.states.get(new, new)),
                )
            else:
                fdef = self.model.field_specs.get(key) or TextField(key=key, label=key)
                shown = Change(fdef.label, self.fmt.value(fdef, old), self.fmt.value(fdef, new))
            result.append(shown)
        return result

    def view(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as a history row: time in UTC, what happened, the changes."""
        return {
            "seq": event["seq"],
            "when": utc_text(event["occurred_at"]),
            "actor": event["actor"],
            "action": event["action"],
            "label": event_label(event, self.transitions),
            "changes": self.changes(event),
            "reason": event["reason"],
        }


def history_view(
    conn: Connection,
    actor: Principal,
    model: TypeModel,
    events: list[dict[str, Any]],
    states: dict[str, str],
    attachment_base: str,
) -> list[dict[str, Any]]:
    """A record's audit events with labels and old and new values as people read them."""
    labels = HistoryLabels.load(conn, actor, model, events, states, attachment_base)
    return [labels.view(e) for e in events]
