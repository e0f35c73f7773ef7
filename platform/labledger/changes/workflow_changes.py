"""What a change does to a workflow, in words: the workflow itself, then its states,
then its transitions, each in the order the new version lists them (the removed
ones last).

A transition that no longer needs a signature (or whose signature now means
something else), a reason or the fields it needed, whose separation of duties
goes or lets more people in, whose guard goes, or that more roles may run;
a state that unlocks a field or no longer needs one filled in: each weakens a
control. An empty role list lets nobody run a transition by hand
(``workflows.checks``), so emptying one never weakens.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import UnsetType

from labledger.changes.pairing import added_and_removed, paired, reordered
from labledger.changes.statements import Names, Statement
from labledger.changes.wording import change_of, listing, quoted, said
from labledger.identity.principal import EVERYONE
from labledger.metadata.spec import ActionSpec, StateSpec, TransitionSpec, WorkflowSpec
from labledger.metadata.spec.workflow import (
    CreateAction,
    SeparationSpec,
    SetAction,
    TransitionReferencedAction,
)


class Vocabulary:
    """The names a workflow's statements use: its states and transitions by key (the
    new version's labels winning), fields and roles from ``names``."""

    def __init__(self, names: Names, *versions: WorkflowSpec) -> None:
        self.names = names
        self.states = {s.key: s.label for version in versions for s in version.states}
        self.steps = {t.key: t.label for version in versions for t in version.transitions}

    def state(self, key: str) -> str:
        return quoted(self.states.get(key, key))

    def step(self, key: str) -> str:
        return quoted(self.steps.get(key, key))

    def fields(self, keys: Iterable[str]) -> str:
        return listing(map(self.names.field_name, keys))

    def roles(self, keys: Iterable[str]) -> str:
        return listing(map(self.names.role_name, keys))


def describe_workflow(old: WorkflowSpec | None, new: WorkflowSpec, names: Names) -> list[Statement]:
    """What changes for the workflow ``old`` becoming ``new`` (``old`` None: it is new)."""
    words = Vocabulary(names, *((new,) if old is None else (old, new)))
    subject = f"Workflow {quoted(new.label)}"
    if old is None:
        found = [Statement(subject, f"New workflow {quoted(new.label)}")]
        found += [_new_state(state, words) for state in new.states]
        return found + [_new_transition(t, words) for t in new.transitions]
    found = []
    if old.label != new.label:
        found.append(
            Statement(subject, f"Workflow {quoted(old.label)} renamed to {quoted(new.label)}")
        )
    if old.description != new.description:
        found.append(Statement(subject, f"{subject}: description changed"))
    for was, now in paired(old.states, new.states, lambda state: state.key):
        found += _state_changes(was, now, words)
    for before, after in paired(old.transitions, new.transitions, lambda step: step.key):
        found += _transition_changes(before, after, words)
    if reordered(old.states, new.states, lambda state: state.key):
        found.append(Statement(subject, f"{subject}: the states come in a new order"))
    if reordered(old.transitions, new.transitions, lambda step: step.key):
        found.append(Statement(subject, f"{subject}: the transitions come in a new order"))
    return found


# --- states ---


def _state_subject(state: StateSpec) -> str:
    return f"State {quoted(state.label)}"


def _editable(state: StateSpec, words: Vocabulary) -> str:
    if state.editable == "all":
        return "every field may be edited"
    if state.editable == "none" or not state.editable:
        return "no field may be edited"
    return f"only {words.fields(state.editable)} may be edited"


def _new_state(state: StateSpec, words: Vocabulary) -> Statement:
    subject = _state_subject(state)
    parts = [p for p, given in (("initial", state.initial), ("final", state.final)) if given]
    parts.append(_editable(state, words))
    if state.required:
        parts.append(f"{words.fields(state.required)} must be filled in to enter it")
    return Statement(subject, f"New state {quoted(state.label)}: {listing(parts)}")


def _state_changes(
    old: StateSpec | None, new: StateSpec | None, words: Vocabulary
) -> list[Statement]:
    if old is None and new is not None:
        return [_new_state(new, words)]
    if new is None and old is not None:
        subject = _state_subject(old)
        return [Statement(subject, f"{subject} removed")]
    assert old is not None and new is not None
    subject = _state_subject(new)

    def told(text: str, weakens: bool = False) -> Statement:
        return Statement(subject, f"{subject} {text}", weakens)

    found = []
    if old.label != new.label:
        found.append(
            Statement(subject, f"State {quoted(old.label)} renamed to {quoted(new.label)}")
        )
    for flag, was, now in (("initial", old.initial, new.initial), ("final", old.final, new.final)):
        if was != now:
            found.append(told(f"is now {flag}" if now else f"is no longer {flag}"))
    found += [told(text, weakens) for text, weakens in _lock_changes(old, new, words)]
    needed, not_needed = added_and_removed(old.required, new.required)
    if needed:
        found.append(told(f"now needs {words.fields(needed)} filled in to enter it"))
    if not_needed:
        text = f"no longer needs {words.fields(not_needed)} filled in to enter it"
        found.append(told(text, True))
    return found


def _lock_changes(old: StateSpec, new: StateSpec, words: Vocabulary) -> list[tuple[str, bool]]:
    """Fields unlocked (a weakened control) and locked. "all" means every field of the
    type, which the workflow does not list, so a change to or from it is told whole."""
    if old.editable == new.editable:
        return []
    if new.editable == "all":
        return [(f"lets every field be edited (before: {_editable(old, words)})", True)]
    if old.editable == "all":
        return [(f"locks fields: now {_editable(new, words)} (before: every field)", False)]
    before = () if old.editable == "none" else old.editable
    after = () if new.editable == "none" else new.editable
    unlocked, locked = added_and_removed(before, after)
    found = []
    if unlocked:
        found.append((f"lets {words.fields(unlocked)} be edited", True))
    if locked:
        found.append((f"locks {words.fields(locked)}", False))
    return found


# --- transitions ---


def _new_transition(step: TransitionSpec, words: Vocabulary) -> Statement:
    parts = [
        f"from {listing(map(words.state, step.from_))} to {words.state(step.to)}",
        f"by {words.roles(step.roles) or 'nobody (it runs only automatically)'}",
    ]
    if (meaning := step.signature_meaning) is not None:
        parts.append(f"signed, meaning {quoted(meaning)}")
    if step.reason_required:
        parts.append("a reason is required")
    if separation := _separation_parts(step.separation, words):
        parts.append(f"separation of duties: {listing(separation)}")
    if step.requires_fields:
        parts.append(f"needs {words.fields(step.requires_fields)} filled in")
    if step.guard:
        parts.append(f"only when {said(step.guard)}")
    parts += [_action(action, words) for action in step.actions]
    text = f"New transition {quoted(step.label)}: {'; '.join(parts)}"
    return Statement(_step_subject(step), text)


def _step_subject(step: TransitionSpec) -> str:
    return f"Transition {quoted(step.label)}"


def _transition_changes(
    old: TransitionSpec | None, new: TransitionSpec | None, words: Vocabulary
) -> list[Statement]:
    if old is None and new is not None:
        return [_new_transition(new, words)]
    if new is None and old is not None:
        return [Statement(_step_subject(old), f"{_step_subject(old)} removed")]
    assert old is not None and new is not None
    subject = _step_subject(new)

    def told(text: str, weakens: bool = False) -> Statement:
        """'Release no longer requires a signature': a step reads as its label."""
        return Statement(subject, f"{new.label} {text}", weakens)

    def noted(text: str) -> Statement:
        return Statement(subject, f"{subject}: {text}")

    found = []
    if old.label != new.label:
        found.append(
            Statement(subject, f"Transition {quoted(old.label)} renamed to {quoted(new.label)}")
        )
    found += [told(text) for text in _route_changes(old, new, words)]
    found += [told(text, weakens) for text, weakens in _role_changes(old, new, words)]
    found += [told(text, weakens) for text, weakens in _signature_change(old, new)]
    found += [told(text, weakens) for text, weakens in _confirmation_change(old, new)]
    if old.reason_required != new.reason_required:
        found.append(
            told("now requires a reason")
            if new.reason_required
            else told("no longer requires a reason", True)
        )
    found += [told(text, weakens) for text, weakens in _separation_changes(old, new, words)]
    needed, not_needed = added_and_removed(old.requires_fields, new.requires_fields)
    if needed:
        found.append(told(f"now needs {words.fields(needed)} filled in"))
    if not_needed:
        found.append(told(f"no longer needs {words.fields(not_needed)} filled in", True))
    found += [told(text, weakens) for text, weakens in _guard_changes(old, new)]
    found += [noted(text) for text in _message_changes(old, new)]
    found += [told(text) for text in _action_changes(old, new, words)]
    return found


def _route_changes(old: TransitionSpec, new: TransitionSpec, words: Vocabulary) -> list[str]:
    found = []
    starts, no_longer = added_and_removed(old.from_, new.from_)
    if starts:
        found.append(f"can now start from {listing(map(words.state, starts))}")
    if no_longer:
        found.append(f"can no longer start from {listing(map(words.state, no_longer))}")
    if old.to != new.to:
        found.append(f"now leads to {words.state(new.to)} (was {words.state(old.to)})")
    return found


def _role_changes(
    old: TransitionSpec, new: TransitionSpec, words: Vocabulary
) -> list[tuple[str, bool]]:
    """A role added lets more people run the step, unless everyone could already."""
    allowed, withdrawn = added_and_removed(old.roles, new.roles)
    found = []
    if allowed:
        found.append((f"may now be done by {words.roles(allowed)}", EVERYONE not in old.roles))
    if withdrawn:
        found.append((f"may no longer be done by {words.roles(withdrawn)}", False))
    if old.roles and not new.roles:
        found.append(("may now be done by nobody by hand (it runs only automatically)", False))
    return found


def _signature_change(old: TransitionSpec, new: TransitionSpec) -> list[tuple[str, bool]]:
    was, now = old.signature_meaning, new.signature_meaning
    if was == now:
        return []
    if was is None:
        return [(f"now requires a signature meaning {quoted(str(now))}", False)]
    if now is None:
        return [("no longer requires a signature", True)]
    return [(f"is now signed meaning {quoted(now)} (was {quoted(was)})", True)]


def _confirmation_change(old: TransitionSpec, new: TransitionSpec) -> list[tuple[str, bool]]:
    """Dropping a confirmation lets people sign past what it flagged without a word, which
    weakens a control; asking under a changed condition is a change of what it flags."""
    was = old.confirmation.when if old.confirmation else ""
    now = new.confirmation.when if new.confirmation else ""
    if was != now:
        if not was:
            return [(f"now asks for a confirmation when {said(now)}", False)]
        if not now:
            return [(f"no longer asks for a confirmation when {said(was)}", True)]
        return [(f"asks for a confirmation when {said(now)} (was {said(was)})", False)]
    if old.confirmation and new.confirmation and old.confirmation != new.confirmation:
        message = change_of(
            "confirmation message", old.confirmation.message, new.confirmation.message
        )
        return [(message, False)]
    return []


def _separation_parts(separation: SeparationSpec | UnsetType, words: Vocabulary) -> list[str]:
    """Who a separation of duties keeps out, one part each ([] for none)."""
    if isinstance(separation, UnsetType):
        return []
    parts = ["not by the record's creator"] if separation.creator else []
    if separation.transitions:
        parts.append(f"not by whoever did {listing(map(words.step, separation.transitions))}")
    if separation.authors_of:
        parts.append(f"not by whoever entered {words.fields(separation.authors_of)}")
    return parts


def _kept_out(
    separation: SeparationSpec | UnsetType,
) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    if isinstance(separation, UnsetType):
        return False, (), ()
    return separation.creator, separation.transitions, separation.authors_of


def _separation_changes(
    old: TransitionSpec, new: TransitionSpec, words: Vocabulary
) -> list[tuple[str, bool]]:
    """Who the separation of duties keeps out: each person let in weakens it."""
    was, now = _separation_parts(old.separation, words), _separation_parts(new.separation, words)
    if was == now:
        return []
    if not was:
        return [(f"now requires separation of duties: {listing(now)}", False)]
    if not now:
        return [("no longer requires separation of duties", True)]
    (creator_was, steps_was, fields_was) = _kept_out(old.separation)
    (creator_now, steps_now, fields_now) = _kept_out(new.separation)
    found = []
    if creator_was != creator_now:
        found.append(
            ("may no longer be done by the record's creator", False)
            if creator_now
            else ("may now be done by the record's creator", True)
        )
    kept_out, let_in = added_and_removed(steps_was, steps_now)
    if kept_out:
        found.append(
            (f"may no longer be done by whoever did {listing(map(words.step, kept_out))}", False)
        )
    if let_in:
        found.append((f"may now be done by whoever did {listing(map(words.step, let_in))}", True))
    kept_out, let_in = added_and_removed(fields_was, fields_now)
    if kept_out:
        found.append((f"may no longer be done by whoever entered {words.fields(kept_out)}", False))
    if let_in:
        found.append((f"may now be done by whoever entered {words.fields(let_in)}", True))
    return found


def _message_changes(old: TransitionSpec, new: TransitionSpec) -> list[str]:
    """The message a refused person reads, told while its control stays (one added or
    removed with its control is part of that)."""
    found = []
    if not isinstance(old.separation, UnsetType) and not isinstance(new.separation, UnsetType):
        was, now = old.separation.message, new.separation.message
        if was != now:
            found.append(change_of("separation message", was, now))
    if old.guard and new.guard and old.guard_message != new.guard_message:
        found.append(change_of("refusal message", old.guard_message, new.guard_message))
    return found


def _guard_changes(old: TransitionSpec, new: TransitionSpec) -> list[tuple[str, bool]]:
    """A guard dropped no longer stops the step, which weakens a control; one changed
    is told whole, as only reading both conditions says which is stricter."""
    if old.guard == new.guard:
        return []
    if not old.guard:
        return [(f"now runs only when {said(new.guard)}", False)]
    if not new.guard:
        return [(f"no longer checks {said(old.guard)}", True)]
    return [(f"now runs only when {said(new.guard)} (was {said(old.guard)})", False)]


def _action(action: ActionSpec, words: Vocabulary) -> str:
    if isinstance(action, SetAction):
        return f"sets {words.names.field_name(action.field)} to {said(action.expression)}"
    if isinstance(action, CreateAction):
        text = f"creates a {words.names.type_name(action.record_type)} record"
        return f"{text} for each of {said(action.for_each)}" if action.for_each else text
    assert isinstance(action, TransitionReferencedAction)
    return (
        f"runs {quoted(action.transition)} on the record in "
        f"{words.names.field_name(action.reference)}"
    )


def _action_changes(old: TransitionSpec, new: TransitionSpec, words: Vocabulary) -> list[str]:
    """Actions have no key: one added or removed is told by what it does."""
    added, removed = added_and_removed(old.actions, new.actions)
    found = [f"now also {_action(action, words)}" for action in added]
    found += [f"no longer {_action(action, words)}" for action in removed]
    if not found and old.actions != new.actions:
        found.append("runs its actions in a new order")
    return found
