"""Demo data that is real data: ``seeds/<name>/demo.json`` played through the services.

``labledger init --demo`` creates the demo's users, then creates each demo
record as the demo user its ``by`` names and runs its steps -- values a
person enters, then a workflow transition -- as the users the steps name.
Everything goes through the services a person's request goes through
(permissions, field checks, state locks, roles, separation of duties,
guards, workflow actions, audit), and a signed transition is signed by the
user who runs it, after their password is checked. So every demo record has
the history and the signatures its state implies, and nothing a workflow
sets (who received or released a sample, and when) comes from the file.

Each entry of ``records`` is one of:

- a new record: ``type``, ``by`` (who creates it) and ``data``;
- a record an earlier step created (the results a sample's receipt creates):
  ``type`` and ``find``, field values that pick exactly one record created
  while this demo was played and not named by an earlier entry;
- ``ref`` alone: the record of an earlier entry, to run more of its steps
  later (a sample is released after its results are reviewed).

In ``data``, ``find`` and a step's ``data``, ``{"ref": "..."}`` stands for
the id of an earlier entry's record, and ``{"file": NAME, "text": TEXT}``
for a text file uploaded, as an attachment, by the user who enters it.

The demo is played once, in the transaction that creates its users: when
they exist already, it was played before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from msgspec import UNSET, UnsetType
from sqlalchemy import Connection, func, select

from labledger.bundles.format import invalid, is_record_ref, load_json, record_refs, schema_errors
from labledger.db.engine import settings_of
from labledger.db.tables import app_user, record
from labledger.errors import Conflict, FieldError, Forbidden, ServiceError, ValidationFailed
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.users import check_password, create_user, principal_where
from labledger.metadata.spec import DemoSpec, decode
from labledger.metadata.spec.bundle import DemoRecordSpec, DemoStepSpec
from labledger.metadata.types import type_model
from labledger.records.attachments import store_attachment
from labledger.records.service import create_record, update_record
from labledger.workflows.engine import execute_transition
from labledger.workflows.model import workflow_model

T = TypeVar("T")


def read_demo(raw: bytes) -> DemoSpec:
    """A demo document checked against ``#/$defs/demo`` and for dangling names."""
    body = load_json(raw)
    errors = schema_errors(body, "#/$defs/demo")
    if errors:
        raise invalid(errors)
    demo = decode(body, DemoSpec)
    errors = demo_name_errors(demo)
    if errors:
        raise invalid(errors)
    return demo


def _given(value: T | UnsetType) -> T | None:
    """A member the document may leave out, None when it does."""
    return None if isinstance(value, UnsetType) else value


def _steps(item: DemoRecordSpec) -> tuple[DemoStepSpec, ...]:
    return _given(item.steps) or ()


def demo_name_errors(demo: DemoSpec) -> list[FieldError]:
    """Every ``by`` names a user of the demo; every ref names an earlier entry's record."""
    users = {user.username for user in demo.users}
    seen: set[str] = set()
    errors: list[FieldError] = []
    for index, item in enumerate(demo.records):
        path = f"records[{index}]"
        continues = item.data is UNSET and item.find is UNSET
        errors += _ref_errors(path, {"data": _given(item.data), "find": _given(item.find)}, seen)
        if continues and item.ref not in seen:
            errors.append(FieldError(f"{path}.ref", f"no earlier record has ref '{item.ref}'"))
        elif not continues and item.ref in seen:
            errors.append(FieldError(f"{path}.ref", f"'{item.ref}' names an earlier record"))
        seen.add(item.ref)
        people = [(f"{path}.by", _given(item.by))]
        for number, step in enumerate(_steps(item)):
            errors += _ref_errors(f"{path}.steps[{number}]", {"data": _given(step.data)}, seen)
            people.append((f"{path}.steps[{number}].by", step.by))
        errors += [
            FieldError(where, f"'{name}' is not one of this demo's users")
            for where, name in people
            if name is not None and name not in users
        ]
    return errors


def _ref_errors(path: str, sections: dict[str, Any], seen: set[str]) -> list[FieldError]:
    return [
        FieldError(where, f"no earlier record has ref '{ref}'")
        for section, values in sections.items()
        for key, value in (values or {}).items()
        for where, ref in record_refs(f"{path}.{section}.{key}", value)
        if ref not in seen
    ]


def load_demo(conn: Connection, name: str, demo: DemoSpec) -> dict[str, str]:
    """Create the demo's users and play its records; returns the new users' passwords.

    Nothing happens when the users exist (the demo was played before); a
    demo whose users exist only in part is refused rather than played with
    people whose passwords are unknown.
    """
    users = demo.users
    names = [user.username for user in users]
    taken = set(
        conn.execute(select(app_user.c.username).where(app_user.c.username.in_(names))).scalars()
    )
    if taken and len(taken) == len(names):
        return {}
    if taken:
        existing = ", ".join(sorted(taken))
        raise Conflict(
            f"The demo users {existing} exist already, but not the others: the demo is "
            "played only into a database that has none of its users."
        )
    passwords = {
        user.username: create_user(
            conn,
            SYSTEM,
            username=user.username,
            full_name=user.full_name,
            email=_given(user.email) or "",
            roles=list(user.roles),
            password=_given(user.password),
            one_time=False,  # demo users sign in and sign straight away
        )
        for user in users
    }
    _DemoRun(conn, name, passwords).play(demo.records)
    return passwords


@contextmanager
def _at(path: str, ref: str) -> Iterator[None]:
    """A refusal names the demo entry (and step) it is about, in its message and fields."""
    try:
        yield
    except ServiceError as exc:
        exc.detail = f"{path} ({ref}): {exc.detail}"
        exc.errors = [FieldError(f"{path}.{e.field}", e.message) for e in exc.errors]
        raise


class _DemoRun:
    """One playing of a demo, in the caller's transaction."""

    def __init__(self, conn: Connection, name: str, passwords: dict[str, str]) -> None:
        self.conn = conn
        self.name = name
        self.passwords = passwords
        self.people = {
            username: principal_where(conn, app_user.c.username == username)
            for username in passwords
        }
        self.signers: dict[str, Principal] = {}
        self.records: dict[str, tuple[str, int]] = {}
        #: Records with a higher id were created while this demo was played.
        self.floor = conn.execute(select(func.coalesce(func.max(record.c.id), 0))).scalar_one()

    def play(self, entries: tuple[DemoRecordSpec, ...]) -> None:
        for index, item in enumerate(entries):
            path = f"records[{index}]"
            with _at(path, item.ref):
                self.records[item.ref] = self._record(item)
            type_key, record_id = self.records[item.ref]
            for number, step in enumerate(_steps(item)):
                with _at(f"{path}.steps[{number}]", item.ref):
                    self._step(type_key, record_id, step)

    def _person(self, username: str) -> Principal:
        person = self.people[username]
        assert person is not None, "a demo user was created in this transaction"
        return person

    def _record(self, item: DemoRecordSpec) -> tuple[str, int]:
        """The entry's record: an earlier entry's (``ref`` alone), one found, or one created."""
        if isinstance(item.type, UnsetType):
            return self.records[item.ref]
        if not isinstance(item.find, UnsetType):
            return item.type, self._find(item.type, item.find)
        data, by = item.data, item.by
        assert not isinstance(data, UnsetType) and not isinstance(by, UnsetType), (
            "DemoRecordSpec refuses a typed entry that neither finds nor creates"
        )
        author = self._person(by)
        view = create_record(
            self.conn,
            author,
            item.type,
            self._values(data, author),
            audit_details={"demo": self.name, "ref": item.ref},
        )
        return item.type, view["id"]

    def _find(self, type_key: str, wanted: dict[str, Any]) -> int:
        """The one record of ``type_key`` made by an earlier step whose fields match ``wanted``."""
        values = {key: self._with_ids(value) for key, value in wanted.items()}
        named = {record_id for _, record_id in self.records.values()}
        rows = self.conn.execute(
            select(record.c.id, record.c.data).where(
                record.c.type_key == type_key, record.c.id > self.floor
            )
        )
        found: list[int] = [
            row.id
            for row in rows
            if row.id not in named and all(row.data.get(k) == v for k, v in values.items())
        ]
        if len(found) != 1:
            message = f"must pick one {type_key} record made by an earlier step; {len(found)} match"
            raise ValidationFailed("The demo is not valid.", [FieldError("find", message)])
        return found[0]

    def _step(self, type_key: str, record_id: int, step: DemoStepSpec) -> None:
        """Values the step's user enters, then the transition they run (signed if it must be)."""
        person = self._person(step.by)
        if not isinstance(step.data, UnsetType):
            version = self.conn.execute(
                select(record.c.version).where(record.c.id == record_id)
            ).scalar_one()
            update_record(
                self.conn,
                person,
                type_key,
                record_id,
                self._values(step.data, person),
                expected_version=version,
                reason=_given(step.reason),
            )
        if not isinstance(step.transition, UnsetType):
            execute_transition(
                self.conn,
                person,
                type_key,
                record_id,
                step.transition,
                reason=_given(step.reason),
                justification=_given(step.justification),
                signer=self._signer(type_key, step.transition, step.by),
            )

    def _signer(self, type_key: str, transition_key: str, username: str) -> Principal | None:
        """The signer of a transition that needs a signature, after their password is checked.

        ``verify_signer`` cannot be called here: it checks the password in a
        transaction of its own, and the demo is played in the one transaction
        that also creates its users (SQLite would wait on itself). So this makes
        the check ``verify_signer`` makes, ``check_password`` for a signature,
        on the same connection -- once per user: each check costs about 0.1 s
        of argon2 and a demo signs a hundred times as a handful of people.
        """
        model = type_model(self.conn, type_key)
        if not model.workflow:  # the transition refuses the step, saying why
            return None
        workflow = workflow_model(self.conn, model.workflow)
        transition = workflow.transition_specs.get(transition_key)
        if transition is None or not transition.signature_meaning:
            return None
        signer = self.signers.get(username)
        if signer is None:
            check = check_password(
                self.conn,
                username,
                self.passwords[username],
                purpose="signature",
            )
            if check.principal is None:
                raise Forbidden(f"Signature refused: {check.message}")
            signer = self.signers[username] = check.principal
        return signer

    def _values(self, data: dict[str, Any], person: Principal) -> dict[str, Any]:
        return {key: self._value(value, person) for key, value in data.items()}

    def _with_ids(self, value: Any) -> Any:
        """A field value with its refs (alone or in a list) replaced by record ids."""
        if is_record_ref(value):
            return self.records[value["ref"]][1]
        if isinstance(value, list):
            return [self._with_ids(item) for item in value]
        return value

    def _value(self, value: Any, person: Principal) -> Any:
        """A field value as ``person`` enters it: refs as record ids, files uploaded."""
        if isinstance(value, dict) and set(value) == {"file", "text"}:
            stored = store_attachment(
                self.conn,
                person,
                filename=str(value["file"]),
                content_type="text/plain",
                content=str(value["text"]).encode("utf-8"),
                max_bytes=settings_of(self.conn).attachment_max_bytes,
            )
            return stored["id"]
        return self._with_ids(value)
