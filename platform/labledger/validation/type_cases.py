"""Cases for each object type: what its fields refuse, how it numbers, who may create.

Each case starts from a record the type accepts (``values.needed_data``) and
changes one thing: leaves out a required field, goes to a limit and one step
beyond it, names a choice that is not offered, repeats a unique value, or is
tried by each role. Each attempt runs in a transaction of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec import UnsetType

from labledger.errors import Forbidden, ServiceError
from labledger.identity.principal import SYSTEM, Principal
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.patterns import compile_pattern
from labledger.metadata.spec.fields import (
    ChoiceField,
    DecimalField,
    InputFieldSpec,
    IntegerField,
    LongTextField,
    TextField,
)
from labledger.metadata.types import KIND, type_model
from labledger.records.create import create_record
from labledger.records.service import get_record
from labledger.records.states import state_rules
from labledger.records.update import update_record
from labledger.validation.cases import Case
from labledger.validation.scratch import Scratch
from labledger.validation.values import CannotDerive, has_default, least, needed_data

#: What the checks serve.
FIELD_CHECKS = "21 CFR 11.10(h); EU Annex 11 §6 (accuracy checks on data entered)"
NUMBERING = "21 CFR 11.10(a); ALCOA+ attributable, unique identification"
AUTHORITY = "21 CFR 11.10(d), 11.10(g); EU Annex 11 §12.1 (authorised access)"
#: How an attempt ended.
SAVED, FORBIDDEN, INVALID = "saved", "refused for who asked", "refused for what was given"


@dataclass(frozen=True)
class Attempt:
    kind: str
    #: What happened, in words: "saved as NUMBER" or the refusal.
    text: str
    number: str = ""


_PLACEHOLDERS = {
    "YYYY": r"\d{4}",
    "YY": r"\d{2}",
    "MM": r"\d{2}",
    "DD": r"\d{2}",
    "parent": r".+",
}


def type_cases(scratch: Scratch) -> list[Case]:
    """Every type's cases, run."""
    with scratch.db.read() as conn:
        models = [type_model(conn, key) for key in versions.keys(conn, KIND)]
    cases: list[Case] = []
    for model in models:
        cases += _TypeChecks(scratch, model).run()
    return cases


class _TypeChecks:
    def __init__(self, scratch: Scratch, model: TypeModel) -> None:
        self.scratch = scratch
        self.model = model
        self.creator = next((p for p in scratch.people.values() if model.allows(p, "create")), None)

    def case(
        self, check: str, area: str, serves: str, title: str, inputs: str, expected: str
    ) -> Case:
        return Case(
            id=f"OQ-{self.model.key}-{check}",
            area=f"{self.model.label}: {area}",
            serves=serves,
            title=title,
            inputs=inputs,
            expected=expected,
        )

    def run(self) -> list[Case]:
        cases = self.permission_cases()
        if self.creator is None:
            reason = f"no role may create {self.model.spec.plural}, so no record can be made"
        else:
            reason = self.probe(self.creator)
        if reason:
            note = self.case("fields", "fields", FIELD_CHECKS, "Field checks", "—", "—")
            note.manual(reason)
            return [*cases, note]
        cases += self.numbering_cases()
        cases += self.access_cases()
        for key, fspec in self.model.field_specs.items():
            if not isinstance(fspec, InputFieldSpec) or fspec.system_set or fspec.read_only:
                continue
            cases += self.field_cases(key, fspec)
        return cases

    def probe(self, actor: Principal) -> str:
        """Why no valid record can be made up for the field checks ("": one can)."""
        try:
            tried = self.attempt(actor, lambda data: None)
        except CannotDerive as exc:
            return str(exc)
        if tried.kind == SAVED:
            return ""
        return f"the metadata does not say how to make a valid {self.model.label}: {tried.text}"

    # --- running one attempt ---

    def attempt(self, actor: Principal, change: Callable[[dict[str, Any]], None]) -> Attempt:
        """Create a record as ``actor`` with the accepted data changed by ``change``."""
        with self.scratch.db.write() as conn:
            data = needed_data(conn, self.model, actor.username)
            change(data)
            try:
                saved = create_record(conn, actor, self.model.key, data)
            except Forbidden as exc:
                return Attempt(FORBIDDEN, f"refused: {exc.detail}")
            except ServiceError as exc:
                fields = ", ".join(e.field for e in exc.errors)
                return Attempt(
                    INVALID, f"refused: {exc.detail}" + (f" ({fields})" if fields else "")
                )
        return Attempt(SAVED, f"saved as {saved['number']}", str(saved["number"]))

    def expect(
        self,
        case: Case,
        kind: str,
        change: Callable[[dict[str, Any]], None],
        *,
        actor: Principal | None = None,
        at: str = "",
    ) -> Case:
        """Run ``case``: it passes when the attempt ends as ``kind`` (refused at field
        ``at``, where one is named)."""
        who = actor or self.creator
        assert who is not None
        try:
            tried = self.attempt(who, change)
        except CannotDerive as exc:
            case.manual(str(exc))
            return case
        if tried.kind == kind and (not at or at in tried.text):
            case.passed(tried.text)
        else:
            case.failed(tried.text)
        return case

    # --- the checks ---

    def check(
        self,
        check: str,
        title: str,
        inputs: str,
        kind: str,
        change: Callable[[dict[str, Any]], None],
        *,
        at: str = "",
        area: str = "fields",
        serves: str = FIELD_CHECKS,
        actor: Principal | None = None,
    ) -> Case:
        """A case of this type, run: ``change`` applied to a valid record must end as
        ``kind`` (refused at field ``at``, where one is named)."""
        expected = {SAVED: "saved", FORBIDDEN: "refused: may not create"}.get(
            kind, f"refused at {at}" if at else "refused"
        )
        case = self.case(check, area, serves, title, inputs, expected)
        return self.expect(case, kind, change, actor=actor, at=at)

    def permission_cases(self) -> list[Case]:
        cases = []
        for role, person in self.scratch.people.items():
            allowed = self.model.allows(person, "create")
            title = f"A person with role {role} {'may' if allowed else 'may not'} create a record"
            inputs = f"create a valid {self.model.label} as {person.username}"
            reason = self.probe(person) if allowed else ""
            if reason:
                case = self.case(
                    f"create-{role}", "who may create", AUTHORITY, title, inputs, "saved"
                )
                case.manual(reason)
                cases.append(case)
                continue
            kind = SAVED if allowed else FORBIDDEN
            cases.append(
                self.check(
                    f"create-{role}",
                    title,
                    inputs,
                    kind,
                    _unchanged,
                    area="who may create",
                    serves=AUTHORITY,
                    actor=person,
                )
            )
        return cases

    def numbering_cases(self) -> list[Case]:
        """A new record's number follows the type's numbering, or its child numbering
        where the record was made under a parent."""
        patterns = [self.model.spec.numbering]
        child = self.model.spec.child_numbering
        if not isinstance(child, UnsetType):
            patterns.append(child.pattern)
        case = self.case(
            "numbering",
            "numbering",
            NUMBERING,
            f"New records are numbered {' or '.join(patterns)}",
            "create a valid record",
            f"a number matching {' or '.join(patterns)}",
        )
        assert self.creator is not None
        try:
            tried = self.attempt(self.creator, _unchanged)
        except CannotDerive as exc:
            case.manual(str(exc))
            return [case]
        again = self.attempt(self.creator, _unchanged)
        if not any(re.fullmatch(_numbering_regex(p), tried.number) for p in patterns):
            case.failed(tried.text)
        elif again.number == tried.number:
            case.failed(f"two records numbered {tried.number}")
        else:
            case.passed(f"{tried.text}, the next {again.number}")
        return [case]

    def access_cases(self) -> list[Case]:
        """Each role reads a record (permitted ones see it, the others are refused) and
        changes it (only the editors may)."""
        assert self.creator is not None
        with self.scratch.db.write() as conn:
            data = needed_data(conn, self.model, self.creator.username)
            made = create_record(conn, self.creator, self.model.key, data)
            rules = state_rules(conn, self.model, made["state"])
        editable = [
            k
            for k, f in self.model.field_specs.items()
            if isinstance(f, InputFieldSpec)
            and f.kind in ("text", "long_text")
            and not f.read_only
            and not getattr(f, "pattern", "")
            and not getattr(f, "options_from", "")
            and k not in rules.locked | rules.system_set
        ]
        cases = []
        for role, person in self.scratch.people.items():
            cases.append(self.read_case(role, person, made["id"]))
            if editable:
                cases.append(self.edit_case(role, person, made["id"], editable[0]))
        return cases

    def read_case(self, role: str, person: Principal, record_id: int) -> Case:
        allowed = self.model.allows(person, "read")
        case = self.case(
            f"read-{role}",
            "who may read",
            AUTHORITY,
            f"A person with role {role} {'may' if allowed else 'may not'} read a record",
            f"read a {self.model.label} as {person.username}",
            "read" if allowed else "refused",
        )
        try:
            with self.scratch.db.read() as conn:
                get_record(conn, person, self.model.key, record_id)
        except Forbidden as exc:
            (case.failed if allowed else case.passed)(f"refused: {exc.detail}")
        else:
            (case.passed if allowed else case.failed)("read")
        return case

    def edit_case(self, role: str, person: Principal, record_id: int, key: str) -> Case:
        allowed = self.model.allows(person, "edit")
        label = self.model.field_specs[key].label
        case = self.case(
            f"edit-{role}",
            "who may edit",
            AUTHORITY,
            f"A person with role {role} {'may' if allowed else 'may not'} change a record",
            f"change {label} as {person.username}",
            "saved" if allowed else "refused",
        )
        try:
            with self.scratch.db.write() as conn:
                version = get_record(conn, SYSTEM, self.model.key, record_id)["version"]
                update_record(
                    conn,
                    person,
                    self.model.key,
                    record_id,
                    {key: f"Changed by {person.username}"},
                    expected_version=version,
                    reason="Qualification: generated case",
                )
        except Forbidden as exc:
            (case.failed if allowed else case.passed)(f"refused: {exc.detail}")
        except ServiceError as exc:
            case.failed(f"refused: {exc.detail}")
        else:
            (case.passed if allowed else case.failed)("saved")
        return case

    def field_cases(self, key: str, fspec: InputFieldSpec) -> list[Case]:
        label = f"{fspec.label} ({key})"
        at = f"data.{key}"

        def setting(value: Any) -> Callable[[dict[str, Any]], None]:
            return lambda data: data.__setitem__(key, value)

        cases = []
        if fspec.required and not has_default(fspec):
            cases.append(
                self.check(
                    f"required-{key}",
                    f"{label} is required",
                    f"leave out {label}",
                    INVALID,
                    lambda data: data.pop(key, None),
                    at=at,
                )
            )
        longest = getattr(fspec, "max_length", None)
        unpatterned = not getattr(fspec, "pattern", "")
        if (
            isinstance(fspec, TextField | LongTextField)
            and isinstance(longest, int)
            and unpatterned
        ):
            cases += [
                self.check(
                    f"length-{key}-at",
                    f"{label} takes {longest} characters",
                    f"{longest} characters",
                    SAVED,
                    setting("x" * longest),
                ),
                self.check(
                    f"length-{key}-beyond",
                    f"{label} refuses {longest + 1} characters",
                    f"{longest + 1} characters",
                    INVALID,
                    setting("x" * (longest + 1)),
                    at=at,
                ),
            ]
        if isinstance(fspec, IntegerField | DecimalField):
            for name, bound, outside in _bounds(fspec):
                cases += [
                    self.check(
                        f"{name}-{key}-at",
                        f"{label} takes its {name}imum {bound}",
                        str(bound),
                        SAVED,
                        setting(bound),
                    ),
                    self.check(
                        f"{name}-{key}-beyond",
                        f"{label} refuses {outside}",
                        str(outside),
                        INVALID,
                        setting(outside),
                        at=at,
                    ),
                ]
        if isinstance(fspec, TextField) and fspec.pattern:
            unmatched = _not_matching(fspec.pattern)
            if unmatched is not None:
                title = f"{label} refuses a value not matching {fspec.pattern}"
                cases.append(
                    self.check(
                        f"pattern-{key}", title, repr(unmatched), INVALID, setting(unmatched), at=at
                    )
                )
        if isinstance(fspec, DecimalField) and isinstance(fspec.precision, int):
            places = fspec.precision + 1
            too_fine = round(least(fspec) + 10**-places, places)
            title = f"{label} refuses more than {fspec.precision} decimal places"
            cases.append(
                self.check(
                    f"precision-{key}", title, str(too_fine), INVALID, setting(too_fine), at=at
                )
            )
        if isinstance(fspec, ChoiceField):
            cases.append(
                self.check(
                    f"choice-{key}",
                    f"{label} takes only its options",
                    "a value not offered",
                    INVALID,
                    setting("not-an-option"),
                    at=at,
                )
            )
        if fspec.unique:
            cases.append(self.unique_case(key, label, at))
        return cases

    def unique_case(self, key: str, label: str, at: str) -> Case:
        title = f"No two records hold the same {label}"
        inputs = "create two records with the same value"
        assert self.creator is not None
        try:
            with self.scratch.db.read() as conn:
                value = needed_data(conn, self.model, self.creator.username).get(key)
        except CannotDerive as exc:
            case = self.case(
                f"unique-{key}", "fields", FIELD_CHECKS, title, inputs, f"refused at {at}"
            )
            case.manual(str(exc))
            return case
        if value is None:
            case = self.case(
                f"unique-{key}", "fields", FIELD_CHECKS, title, inputs, f"refused at {at}"
            )
            case.manual(f"{label} is not needed to create a record: no value to repeat")
            return case

        def same(data: dict[str, Any]) -> None:
            data[key] = value

        self.attempt(self.creator, same)
        return self.check(f"unique-{key}", title, inputs, INVALID, same, at=at)


def _not_matching(pattern: str) -> str | None:
    """A short text the pattern refuses (None: every candidate matches it)."""
    checker = compile_pattern(pattern)
    return next((text for text in ("", "!", "?? ??", "x" * 200) if not checker.search(text)), None)


def _unchanged(data: dict[str, Any]) -> None:
    """A valid record as it is."""


def _bounds(fspec: IntegerField | DecimalField) -> list[tuple[str, int | float, int | float]]:
    """(min or max, the limit, one step beyond it) for each limit the field has; a step is
    one unit of the last decimal place the field allows."""
    step: int | float = 1
    if isinstance(fspec, DecimalField) and isinstance(fspec.precision, int) and fspec.precision:
        step = 10**-fspec.precision
    found = []
    for name, bound, beyond in (("min", fspec.min, -step), ("max", fspec.max, step)):
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            found.append((name, bound, round(bound + beyond, 12)))
    return found


def _numbering_regex(pattern: str) -> str:
    """A numbering pattern as a regular expression ({parent}: any number before it)."""
    parts = re.split(r"\{(YYYY|YY|MM|DD|parent|#+)\}", pattern)
    return "".join(
        (_PLACEHOLDERS.get(part) or rf"\d{{{len(part)}}}") if index % 2 else re.escape(part)
        for index, part in enumerate(parts)
    )
