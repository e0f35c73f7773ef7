"""Cases for each workflow step as a type uses it: who may run it, its signature, its
reason, separation of duties.

Each attempt starts from a record of its own, made by the platform in the state
the step starts from, with the values the type needs and those the step's
target state requires. A step a role may run is run for real (signed with the
person's password where it needs a signature, with a reason and a
justification where it asks); where it is still stopped by a guard or by data
the metadata does not say how to make, the case is a manual one, with the
guard's own message.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import islice, product
from typing import Any

from msgspec import UnsetType
from sqlalchemy import select

from labledger.db.tables import audit_event, signature
from labledger.errors import ServiceError
from labledger.expressions import EvaluationError, Expression
from labledger.identity.principal import EVERYONE, SYSTEM, Principal
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.spec.fields import (
    ChoiceField,
    DecimalField,
    FieldSpec,
    InputFieldSpec,
    IntegerField,
)
from labledger.metadata.types import KIND, type_model
from labledger.records.create import create_record
from labledger.records.relations import RELATED_FUNCTIONS
from labledger.records.states import state_rules
from labledger.records.update import update_record
from labledger.validation.cases import Case
from labledger.validation.scratch import Scratch
from labledger.validation.values import CannotDerive, fitting_value, least, needed_data
from labledger.workflows.checks import GUARD
from labledger.workflows.engine import SignatureInput, run_transition
from labledger.workflows.model import WorkflowModel, workflow_model
from labledger.workflows.refusals import BLOCKED_BY, SIGN_REFUSED

AUTHORITY = "21 CFR 11.10(d), 11.10(g); EU Annex 11 §12.1 (authority checks)"
SIGNING = "21 CFR 11.50, 11.70, 11.200(a); EU Annex 11 §14 (electronic signatures)"
SEQUENCE = "21 CFR 11.10(f) (operational checks: steps in order, with reasons)"
SEPARATION = "21 CFR 11.10(g); EU Annex 11 §12 (separation of duties)"
LOCKS = "21 CFR 11.10(f), 11.10(e); EU Annex 11 §10 (what may change in each state)"
#: What a generated step gives where one is asked for.
REASON = "Qualification: generated case"


def workflow_cases(scratch: Scratch) -> list[Case]:
    """Every workflow step of every type that follows a workflow, run."""
    with scratch.db.read() as conn:
        models = [type_model(conn, key) for key in versions.keys(conn, KIND)]
        flows = {m.key: workflow_model(conn, m.workflow) for m in models if m.workflow}
    cases: list[Case] = []
    for model in models:
        if model.key in flows:
            for step in flows[model.key].spec.transitions:
                cases += _StepChecks(scratch, model, flows[model.key], step).run()
            cases += state_lock_cases(scratch, model, flows[model.key])
    return cases


def state_lock_cases(scratch: Scratch, model: TypeModel, flow: WorkflowModel) -> list[Case]:
    """In each state that locks fields, a person who may edit the type changes one
    locked field (refused) and, where the state leaves some editable, one of those."""
    editor = next((p for p in scratch.people.values() if model.allows(p, "edit")), None)
    if editor is None:
        return []
    cases = []
    with scratch.db.read() as conn:
        for state in flow.spec.states:
            rules = state_rules(conn, model, state.key)
            typed = [
                k
                for k, f in model.field_specs.items()
                if isinstance(f, InputFieldSpec)
                and not f.read_only
                and k not in rules.system_set
                and f.kind in _EDITABLE_KINDS
            ]
            locked = [k for k in typed if k in rules.locked]
            open_ = [k for k in typed if k not in rules.locked]
            if locked:
                cases.append(_lock_case(scratch, model, state.key, editor, locked[0], True))
                if open_:
                    cases.append(_lock_case(scratch, model, state.key, editor, open_[0], False))
    return cases


#: The combinations of values tried to make a guard true and false, at most.
_GUARD_TRIES = 200


def _guard_values(
    model: TypeModel, guard: Expression
) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """Values of the fields a guard reads that make it true and false, or why there are
    none to find (it reads related records, the person, or values not tried)."""
    if guard.functions & set(RELATED_FUNCTIONS):
        return f"{guard.source} reads related records: its cases need data made by hand"
    fields = sorted(guard.names)
    if any(name not in model.field_specs for name in fields):
        return f"{guard.source} reads the person or the record itself: a manual test"
    choices = [_tried_values(model.field_specs[name]) for name in fields]
    holds: dict[str, Any] | None = None
    fails: dict[str, Any] | None = None
    for combination in islice(product(*choices), _GUARD_TRIES):
        values = dict(zip(fields, combination, strict=True))
        try:
            result = bool(guard.evaluate(values))
        except EvaluationError:
            continue
        if result and holds is None:
            holds = values
        if not result and fails is None:
            fails = values
        if holds is not None and fails is not None:
            return holds, fails
    return f"no values tried make {guard.source} both true and false"


def _tried_values(fspec: FieldSpec) -> list[Any]:
    """A few values of a field a guard may turn on: its options, both truths, small
    numbers within its limits, empty where it may be."""
    if isinstance(fspec, ChoiceField):
        return [o.value for o in fspec.options]
    if fspec.kind == "boolean":
        return [True, False]
    if isinstance(fspec, IntegerField | DecimalField):
        low = least(fspec)
        high = fspec.max if isinstance(fspec.max, int | float) else low + 10
        numbers = [low, low + 1, low + 2, high] if high >= low + 2 else [low, high]
        return [*dict.fromkeys(numbers), None]
    if fspec.kind in ("text", "long_text"):
        return ["Qualification", None]
    return [None]


def _another(fspec: FieldSpec, value: Any) -> Any:
    """A value of the field other than ``value`` that it would accept as well."""
    if isinstance(value, bool):
        return not value
    if fspec.kind == "date":
        return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    if isinstance(value, int | float):
        bound = getattr(fspec, "max", None)
        return value - 1 if isinstance(bound, int | float) and value + 1 > bound else value + 1
    return f"{value}, changed"


#: Field kinds a lock case changes (a value made up as for a new record).
_EDITABLE_KINDS = frozenset({"text", "long_text", "integer", "decimal", "boolean", "date"})


def _lock_case(
    scratch: Scratch, model: TypeModel, state: str, editor: Principal, key: str, locked: bool
) -> Case:
    label = model.field_specs[key].label
    case = Case(
        id=f"OQ-{model.key}-state-{state}-{'locked' if locked else 'open'}-{key}",
        area=f"{model.label}: fields per state",
        serves=LOCKS,
        title=f"In state {state}, {label} {'may not' if locked else 'may'} be changed",
        inputs=f"{editor.username} changes {label} of a record in state {state}",
        expected="refused" if locked else "saved",
    )
    try:
        with scratch.db.write() as conn:
            data = needed_data(conn, model, editor.username)
            made = create_record(conn, SYSTEM, model.key, data, state=state, skip_permission=True)
            new = fitting_value(conn, model, {}, key, editor.username)
    except (CannotDerive, ServiceError) as exc:
        case.manual(str(exc) if isinstance(exc, CannotDerive) else exc.detail)
        return case
    if new == data.get(key):
        new = _another(model.field_specs[key], new)
    try:
        with scratch.db.write() as conn:
            update_record(
                conn,
                editor,
                model.key,
                made["id"],
                {key: new},
                expected_version=made["version"],
                reason=REASON,
            )
    except ServiceError as exc:
        at_field = [e.message for e in exc.errors if e.field == f"data.{key}"]
        observed = f"refused: {exc.detail} {'; '.join(e.message for e in exc.errors)}".strip()
        if locked:
            (case.passed if at_field else case.failed)(observed)
        elif at_field:
            case.failed(observed)
        else:  # refused by a rule across fields, not by the state's lock
            case.manual(f"the change was refused for another reason: {observed}")
        return case
    (case.failed if locked else case.passed)("saved")
    return case


class _StepChecks:
    def __init__(
        self, scratch: Scratch, model: TypeModel, flow: WorkflowModel, step: TransitionSpec
    ) -> None:
        self.scratch = scratch
        self.model = model
        self.flow = flow
        self.step = step
        self.start = step.from_[0]

    def case(self, check: str, serves: str, title: str, inputs: str, expected: str) -> Case:
        return Case(
            id=f"OQ-{self.model.key}-{self.step.key}-{check}",
            area=f"{self.model.label}: {self.step.label}",
            serves=serves,
            title=title,
            inputs=inputs,
            expected=expected,
        )

    def run(self) -> list[Case]:
        cases = [*self.authority_cases(), *self.role_cases()]
        permitted = self.permitted()
        if permitted is not None:
            cases += self.answer_cases(permitted)
            cases += self.separation_cases(permitted)
            cases += self.guard_cases(permitted)
        return cases

    def permitted(self) -> Principal | None:
        """A person whose role may run the step (None: no role may)."""
        return next(
            (p for p in self.scratch.people.values() if p.has_any_role(self.step.roles)), None
        )

    # --- a record to run the step on, and one attempt ---

    def record_in_start(
        self, creator: Principal | None = None, omit: str = "", **values: Any
    ) -> int:
        """A new record in the state the step starts from, with what entering the target
        state requires (``creator``: made as that person, for separation of duties)."""
        who = creator or SYSTEM
        username = (
            creator.username if creator else next(iter(self.scratch.people.values())).username
        )
        with self.scratch.db.write() as conn:
            data = needed_data(conn, self.model, username, given=values)
            set_by_step = {a.written_field for a in self.step.actions}
            for key in (*self.flow.required_fields(self.step.to), *self.step.requires_fields):
                if key not in data and key not in set_by_step:
                    data[key] = fitting_value(conn, self.model, data, key, username)
            data.update(values)
            data.pop(omit, None)
            try:
                made = create_record(
                    conn, who, self.model.key, data, state=self.start, skip_permission=True
                )
            except ServiceError as exc:
                problems = "; ".join(f"{e.field} {e.message}" for e in exc.errors)
                raise CannotDerive(
                    f"no {self.model.label} could be made: {exc.detail} {problems}".strip()
                ) from None
        return int(made["id"])

    def attempt(
        self,
        actor: Principal,
        record_id: int,
        *,
        password: str | None = None,
        reason: str | None = REASON,
    ) -> tuple[str, list[str]]:
        """Run the step as ``actor``; what happened in words and why it was refused."""
        meaning = self.step.signature_meaning
        signed = SignatureInput(actor.username, password or self.scratch.password)
        try:
            moved = run_transition(
                self.scratch.db,
                actor,
                self.model.key,
                record_id,
                self.step.key,
                reason=reason if reason else None,
                justification=REASON,
                signature=signed if meaning else None,
            )
        except ServiceError as exc:
            return f"refused ({exc.status}): {exc.detail}", list(exc.extra.get(BLOCKED_BY) or [])
        return f"moved to {moved['state']}", []

    # --- the checks ---

    def authority_cases(self) -> list[Case]:
        """A signed step is limited to named roles: a signature by anyone who can sign in
        attests no authority (21 CFR 11.10(g))."""
        if not self.step.signature_meaning:
            return []
        case = self.case(
            "roles-named",
            AUTHORITY,
            f"Only named roles may sign {self.step.label}",
            f"the roles of {self.step.label}: {', '.join(self.step.roles) or 'none'}",
            "named roles only, not every signed-in user",
        )
        if EVERYONE in self.step.roles:
            case.failed(f"{self.step.label} is open to every signed-in user")
        else:
            case.passed(f"{', '.join(self.step.roles) or 'no role (run only by the system)'}")
        return [case]

    def role_cases(self) -> list[Case]:
        cases = []
        for role, person in self.scratch.people.items():
            allowed = person.has_any_role(self.step.roles)
            case = self.case(
                f"role-{role}",
                AUTHORITY,
                f"{role} {'may' if allowed else 'may not'} run {self.step.label}",
                f"{self.step.label} from {self.start} as {person.username}",
                f"moved to {self.step.to}" if allowed else "refused: role",
            )
            try:
                record_id = self.record_in_start()
            except CannotDerive as exc:
                case.manual(str(exc))
                cases.append(case)
                continue
            observed, why = self.attempt(person, record_id)
            if allowed and self.step.signature_meaning and observed.startswith("moved"):
                has = self.signed(record_id)
                observed += f"; signed '{self.step.signature_meaning}': {'yes' if has else 'no'}"
                if not has:
                    case.failed(observed)
                    cases.append(case)
                    continue
            self.judge(case, observed, why, allowed)
            cases.append(case)
        return cases

    def judge(self, case: Case, observed: str, why: list[str], allowed: bool) -> None:
        """A permitted step must move; one stopped by its guard needs a manual test."""
        if not allowed:  # refused for who asks: the step's roles, or the type's readers
            refused = "role" in why or observed.startswith("refused (403)")
            (case.passed if refused else case.failed)(observed)
        elif observed.startswith("moved"):
            case.passed(observed)
        elif GUARD in why or "fields" in why:
            case.manual(f"the step's condition was not met by made-up data: {observed}")
        else:
            case.failed(observed)

    def answer_cases(self, person: Principal) -> list[Case]:
        """A signature with a wrong password is refused and audited; a required reason is
        asked for."""
        cases = []
        if self.step.signature_meaning:
            case = self.case(
                "wrong-password",
                SIGNING,
                f"{self.step.label} is refused with a wrong password, and the refusal audited",
                f"sign as {person.username} with a wrong password",
                "refused, audited as a refused signature, not moved",
            )
            try:
                record_id = self.record_in_start()
            except CannotDerive as exc:
                case.manual(str(exc))
            else:
                wrong = self.scratch.password[::-1]  # never the real one: it is random
                observed, why = self.attempt(person, record_id, password=wrong)
                audited = self.audited(record_id, SIGN_REFUSED)
                done = observed.startswith("refused") and "password" in why and audited
                (case.passed if done else case.failed)(
                    f"{observed}; refusal on the audit trail: {'yes' if audited else 'no'}"
                )
            cases.append(case)
        needed = self.needed_on_entry()
        if needed:
            label = self.model.field_specs[needed].label
            case = self.case(
                f"entry-{needed}",
                SEQUENCE,
                f"A record enters {self.step.to} only with {label} filled in",
                f"run {self.step.label} as {person.username} with {label} empty",
                "refused: fields",
            )
            try:
                observed, why = self.attempt(person, self.record_in_start(omit=needed))
            except CannotDerive as exc:
                case.manual(str(exc))
            else:
                (case.passed if "fields" in why else case.failed)(observed)
            cases.append(case)
        if self.step.reason_required:
            case = self.case(
                "reason",
                SEQUENCE,
                f"{self.step.label} needs a reason",
                f"run it as {person.username} without a reason",
                "refused: reason",
            )
            try:
                observed, why = self.attempt(person, self.record_in_start(), reason=None)
            except CannotDerive as exc:
                case.manual(str(exc))
            else:
                (case.passed if "reason" in why else case.failed)(observed)
            cases.append(case)
        return cases

    def needed_on_entry(self) -> str:
        """A field the target state requires that neither the step sets nor a new record
        must have ("" for none): leaving it empty must stop the step."""
        set_by_step = {a.written_field for a in self.step.actions}
        try:
            with self.scratch.db.write() as conn:  # may make referenced records: a write
                always = set(needed_data(conn, self.model, SYSTEM.username))
        except CannotDerive:
            return ""
        return next(
            (
                key
                for key in (*self.flow.required_fields(self.step.to), *self.step.requires_fields)
                if key not in set_by_step and key not in always
            ),
            "",
        )

    def separation_cases(self, person: Principal) -> list[Case]:
        """Whoever created the record, entered a field the step judges or ran an earlier
        step the separation names may not run it."""
        separation = self.step.separation
        if isinstance(separation, UnsetType):
            return []
        cases = []
        if separation.creator:
            cases.append(
                self.separated(
                    "separation-creator",
                    f"Whoever created the record may not {self.step.label.lower()} it",
                    f"{person.username} creates a record, then runs {self.step.label}",
                    person,
                    {},
                )
            )
        if separation.authors_of:
            key = separation.authors_of[0]
            label = self.model.field_specs[key].label if key in self.model.field_specs else key
            with self.scratch.db.write() as conn:
                try:
                    value = fitting_value(conn, self.model, {}, key, person.username)
                except CannotDerive:
                    value = None
            cases.append(
                self.separated(
                    f"separation-author-{key}",
                    f"Whoever entered {label} may not {self.step.label.lower()} the record",
                    f"{person.username} enters {label}, then runs {self.step.label}",
                    person,
                    {key: value} if value is not None else {},
                )
            )
        if separation.transitions:
            leading = [  # an earlier step that leads where this one starts can be run first
                k
                for k in separation.transitions
                if k in self.flow.transition_specs
                and self.flow.transition_specs[k].to in self.step.from_
            ]
            cases.append(self.separated_by_step((leading or list(separation.transitions))[0]))
        return cases

    def separated_by_step(self, earlier_key: str) -> Case:
        """One person runs the earlier step, then this one: refused."""
        earlier = self.flow.transition_specs.get(earlier_key)
        label = earlier.label if earlier else earlier_key
        case = self.case(
            f"separation-step-{earlier_key}",
            SEPARATION,
            f"Whoever ran {label} may not {self.step.label.lower()} the record",
            f"one person runs {label}, then {self.step.label}",
            "refused: separation",
        )
        if earlier is None or earlier.to not in self.step.from_:
            case.manual(f"{label} does not lead to where {self.step.label} starts")
            return case
        person = next(
            (
                p
                for p in self.scratch.people.values()
                if p.has_any_role(earlier.roles) and p.has_any_role(self.step.roles)
            ),
            None,
        )
        if person is None:
            case.manual(f"no one role may run both {label} and {self.step.label}")
            return case
        before = _StepChecks(self.scratch, self.model, self.flow, earlier)
        guard = self.flow.guards.get(earlier.key)
        found = _guard_values(self.model, guard) if guard is not None else ({}, {})
        values = found[0] if isinstance(found, tuple) else {}
        try:
            record_id = before.record_in_start(**values)
        except CannotDerive as exc:
            case.manual(str(exc))
            return case
        ran, _ = before.attempt(person, record_id)
        if not ran.startswith("moved"):
            case.manual(f"{person.username} could not run {label}: {ran}")
            return case
        observed, why = self.attempt(person, record_id)
        (case.passed if "separation" in why else case.failed)(f"{ran}; then {observed}")
        return case

    def separated(
        self, check: str, title: str, inputs: str, person: Principal, values: dict[str, Any]
    ) -> Case:
        """``person`` makes the record (with ``values``) and is refused the step."""
        case = self.case(check, SEPARATION, title, inputs, "refused: separation")
        try:
            observed, why = self.attempt(person, self.record_in_start(creator=person, **values))
        except CannotDerive as exc:
            case.manual(str(exc))
        else:
            (case.passed if "separation" in why else case.failed)(observed)
        return case

    def guard_cases(self, person: Principal) -> list[Case]:
        """The step's guard with values that make it true (the step runs) and false (it is
        refused, with the guard's message), where they can be found among a few values
        of the fields it reads; otherwise a manual test, saying why."""
        guard = self.flow.guards.get(self.step.key)
        if guard is None:
            return []
        case_true = self.case(
            "guard-true",
            SEQUENCE,
            f"{self.step.label} runs when its condition holds",
            f"{person.username} runs it on a record where {guard.source} holds",
            "moved",
        )
        case_false = self.case(
            "guard-false",
            SEQUENCE,
            f"{self.step.label} is refused when its condition fails",
            f"{person.username} runs it on a record where {guard.source} fails",
            "refused: guard",
        )
        found = _guard_values(self.model, guard)
        if isinstance(found, str):
            case_true.manual(found)
            case_false.manual(found)
            return [case_true, case_false]
        holds, fails = found
        for case, values, wanted in ((case_true, holds, True), (case_false, fails, False)):
            try:
                observed, why = self.attempt(person, self.record_in_start(**values))
            except CannotDerive as exc:
                case.manual(str(exc))
                continue
            if wanted:
                if observed.startswith("moved"):
                    case.passed(f"{values}: {observed}")
                else:
                    case.manual(f"{values}: refused for another reason: {observed}")
            else:
                (case.passed if GUARD in why else case.failed)(f"{values}: {observed}")
        return [case_true, case_false]

    def audited(self, record_id: int, action: str) -> bool:
        with self.scratch.db.read() as conn:
            found = conn.execute(
                select(audit_event.c.seq).where(
                    audit_event.c.record_id == record_id, audit_event.c.action == action
                )
            ).first()
        return found is not None

    def signed(self, record_id: int) -> bool:
        """Whether the record carries a signature of the step's meaning."""
        with self.scratch.db.read() as conn:
            found = conn.execute(
                select(signature.c.id).where(
                    signature.c.record_id == record_id,
                    signature.c.meaning == self.step.signature_meaning,
                )
            ).first()
        return found is not None
