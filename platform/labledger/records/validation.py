"""Validation of submitted record data against a type version.

JSON Schema (compiled once per type version) checks shapes, ranges and
options; this module adds what a schema cannot: real calendar dates and
decimal places, read-only, system-set and computed fields, conditional requiredness,
references that point at an existing record of the right type, users who
exist, attachments within their size limit, and unique values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from msgspec import UNSET
from sqlalchemy import Connection, func, select

from labledger.db.engine import settings_of
from labledger.db.jsonfields import NUL_MESSAGE, field_column, nul_paths, type_key_literal
from labledger.db.tables import app_user, attachment, record
from labledger.db.txcache import transaction_cache
from labledger.errors import FieldError
from labledger.expressions import EvaluationError
from labledger.metadata.fieldtypes import FIELD_TYPES, computed_result, sql_kind
from labledger.metadata.messages import field_errors
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import (
    AttachmentField,
    FieldSpec,
    InputFieldSpec,
    ReferenceField,
    UserField,
)
from labledger.records.relations import LOOKUP_COLUMNS, record_facts, related_functions

FieldSpecT = TypeVar("FieldSpecT", bound=FieldSpec)


def accepts(accept: Iterable[str], filename: str, content_type: str) -> bool:
    """Does a file match an ``accept`` list of extensions (.pdf) or media types (image/*)?"""
    name, media = filename.lower(), content_type.lower().split(";")[0].strip()
    for pattern in (p.lower().strip() for p in accept):
        if pattern.startswith(".") and name.endswith(pattern):
            return True
        if pattern.endswith("/*") and media.startswith(pattern[:-1]):
            return True
        if pattern == media:
            return True
    return False


#: Why a person may not give a field that the system (a workflow step) sets.
SYSTEM_SET_MESSAGE = "is set by the system (a workflow step) and cannot be given"


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _identify(
    conn: Connection, value: Any, read: dict[int, dict[str, Any] | None]
) -> tuple[int, str] | None:
    """(id, type) of the record with id or number ``value``, or None.

    Records keep their id, number and type forever, so what was found is
    remembered for the rest of the transaction (a batch of results all naming
    one sample asks once). The same query reads what ``lookup`` answers into
    ``read``, since default expressions and rules mostly look up the records
    the new values refer to.
    """
    known = transaction_cache(conn, "record_identity")
    if value not in known:
        condition = record.c.id == value if isinstance(value, int) else record.c.number == value
        found = conn.execute(
            select(record.c.id, record.c.type_key, *LOOKUP_COLUMNS).where(condition)
        ).first()
        if found is None:
            return None
        known[value] = (found.id, found.type_key)
        read[found.id] = record_facts(found.id, found)
    identity: tuple[int, str] = known[value]
    return identity


def identify_records(
    conn: Connection, values: Iterable[Any], read: dict[int, dict[str, Any] | None]
) -> None:
    """Find the records with these ids or numbers in one query, for ``_identify``.

    A batch that will check many references (ten results naming ten
    analyses) calls this first, so each check finds its records remembered.
    """
    known = transaction_cache(conn, "record_identity")
    wanted = {v for v in values if isinstance(v, int | str) and v not in known}
    ids = [v for v in wanted if isinstance(v, int) and not isinstance(v, bool)]
    numbers = [v for v in wanted if isinstance(v, str)]
    if not ids and not numbers:
        return
    rows = conn.execute(
        select(record.c.id, record.c.type_key, *LOOKUP_COLUMNS).where(
            record.c.id.in_(ids) | record.c.number.in_(numbers)
        )
    )
    for found in rows:
        identity = (found.id, found.type_key)
        known[found.id] = identity
        if found.number in wanted:
            known[found.number] = identity
        read[found.id] = record_facts(found.id, found)


class DataCheck:
    """Builds the data to store from what was submitted, collecting every error."""

    def __init__(
        self,
        conn: Connection,
        model: TypeModel,
        current: dict[str, Any] | None,
        *,
        actor: str,
        record_id: int | None,
        current_checked: bool = False,
        locked_fields: frozenset[str] = frozenset(),
        system_set: frozenset[str] = frozenset(),
        as_system: bool = False,
        attachments_allowed: bool = True,
        read: dict[int, dict[str, Any] | None] | None = None,
    ) -> None:
        """``system_set`` are fields only the system writes (a workflow step's actions,
        fields marked ``system_set``): a person who gives one is refused.
        ``as_system`` is for the values the system itself writes (a workflow step's
        actions, a migration of history): the rules that keep people from changing
        what the system records (read-only, locked and system-set fields) do not
        apply to it; every other check does.
        ``attachments_allowed`` False (an import from another system) refuses every
        attachment; otherwise the installation's limit applies (``settings_of``).
        ``read`` holds records already read (by id), shared by the checks of a batch.
        ``current_checked``: ``current`` was written under this very version of the
        type, so its values passed the same shape checks; only the values a change
        gives are checked again (an update import of two columns checks two)."""
        self.conn = conn
        self.model = model
        self.current = current
        #: Who is writing: a file no record uses yet may only be used by its uploader.
        self.actor = actor
        self.record_id = record_id
        self.current_checked = current_checked
        self.locked_fields = locked_fields
        self.system_set = system_set
        self.as_system = as_system
        #: The largest attachment any field takes, in bytes.
        self.attachment_limit = settings_of(conn).attachment_max_bytes if attachments_allowed else 0
        self.errors: list[FieldError] = []
        self._related: dict[str, Any] | None = None
        #: Records read while checking references, for ``lookup`` (by id).
        self._read = {} if read is None else read

    def error(self, key: str, message: str) -> None:
        self.errors.append(FieldError(f"data.{key}", message))

    def build(self, submitted: Any, context: dict[str, Any]) -> dict[str, Any]:
        """The merged, normalised and computed data (check ``errors`` afterwards)."""
        if not isinstance(submitted, dict):
            self.errors.append(FieldError("data", "must be an object of field values"))
            return {}
        self._check_keys(submitted)
        merged = self._merge(submitted)
        self._check_shapes(submitted if self.current_checked else merged)
        if self.errors:
            return merged
        self._normalise(merged, submitted)
        self._resolve_references(merged, submitted)
        if self.current is None:
            submitted = self._apply_default_expressions(merged, submitted, context)
        self._check_required(merged, submitted)
        self._check_users(merged, submitted)
        self._check_attachments(merged, submitted)
        self.compute(merged, context)
        self._check_conditional(merged, context)
        self._check_rules(merged, context)
        if not self.errors:
            self._check_unique(merged)
        return {k: v for k, v in merged.items() if v is not None}

    def _check_keys(self, submitted: dict[str, Any]) -> None:
        fields = self.model.field_specs
        for key, value in submitted.items():
            for path in nul_paths(value, key):
                self.error(path, NUL_MESSAGE)
            spec = fields.get(key)
            if spec is None:
                self.error(key, f"is not a field of {self.model.label}")
            elif not isinstance(spec, InputFieldSpec):
                self.error(key, "is computed and cannot be set")
            elif not self.as_system:
                self._check_person_may_give(spec, value)

    def _check_person_may_give(self, spec: FieldSpec, value: Any) -> None:
        """A person gives a value only to a field people write, and changes it only
        while it is neither read-only nor locked (giving the stored value again is
        no change)."""
        key = spec.key
        changes = not is_empty(value) if self.current is None else value != self.current.get(key)
        if not changes:
            return
        if key in self.system_set:
            self.error(key, SYSTEM_SET_MESSAGE)
        elif self.current is not None and spec.read_only:
            self.error(key, "is read-only once the record is created")
        elif self.current is not None and key in self.locked_fields:
            self.error(key, "cannot be changed in the record's current state")

    def _merge(self, submitted: dict[str, Any]) -> dict[str, Any]:
        if self.current is not None:
            return {**self.current, **submitted}
        merged = {
            key: spec.default_value
            for key, spec in self.model.field_specs.items()
            if spec.default_value is not None
        }
        merged.update(submitted)
        return merged

    def _normalise(self, merged: dict[str, Any], submitted: dict[str, Any]) -> None:
        for key, spec in self.model.field_specs.items():
            value = merged.get(key)
            if value is None or (key not in submitted and self.current is not None):
                continue
            try:
                merged[key] = FIELD_TYPES[spec.kind].normalise(value, spec)
            except ValueError as exc:
                self.error(key, str(exc))

    def _check_required(self, merged: dict[str, Any], submitted: dict[str, Any]) -> None:
        """A required field needs a real value: blank text or an empty list is none."""
        for key, spec in self.model.field_specs.items():
            given = self.current is None or key in submitted
            required = isinstance(spec, InputFieldSpec) and spec.required
            if required and given and is_empty(merged.get(key)):
                self.error(key, "is required")

    def _changed(self, submitted: dict[str, Any], kind: type[FieldSpecT]) -> list[FieldSpecT]:
        """The fields of ``kind`` given a value in ``submitted``."""
        return [
            spec
            for spec in self.model.field_specs.values()
            if isinstance(spec, kind) and submitted.get(spec.key) is not None
        ]

    def _resolve_references(self, merged: dict[str, Any], submitted: dict[str, Any]) -> None:
        """Accept a target's id or number; store its id after checking its type."""
        for spec in self._changed(submitted, ReferenceField):
            key = spec.key
            resolved = [self._resolve(key, spec.to, value) for value in spec.targets(merged[key])]
            merged[key] = resolved if spec.multiple else resolved[0]

    def _resolve(self, key: str, target_type: str, value: Any) -> Any:
        found = _identify(self.conn, value, self._read)
        if found is None or found[1] != target_type:
            self.error(key, f"there is no {target_type} record {value!r}")
            return value
        return found[0]

    def _check_users(self, merged: dict[str, Any], submitted: dict[str, Any]) -> None:
        keys = [spec.key for spec in self._changed(submitted, UserField)]
        wanted = {merged[k] for k in keys}
        if not wanted:
            return
        active = set(
            self.conn.execute(
                select(app_user.c.username).where(
                    app_user.c.username.in_(wanted), app_user.c.active
                )
            ).scalars()
        )
        for key in keys:
            if merged[key] not in active:
                self.error(key, f"there is no active user '{merged[key]}'")

    def _check_attachments(self, merged: dict[str, Any], submitted: dict[str, Any]) -> None:
        for spec in self._changed(submitted, AttachmentField):
            key = spec.key
            row = self.conn.execute(
                select(
                    attachment.c.size,
                    attachment.c.record_id,
                    attachment.c.created_by,
                    attachment.c.filename,
                    attachment.c.content_type,
                ).where(attachment.c.id == merged[key])
            ).first()
            limit = self.attachment_limit
            if spec.max_size is not UNSET:
                limit = min(spec.max_size, limit)
            if row is None:
                self.error(key, f"there is no attachment {merged[key]}")
            elif row.record_id is not None and row.record_id != self.record_id:
                self.error(key, "the attachment belongs to another record")
            elif row.record_id is None and row.created_by != self.actor:
                self.error(key, "the attachment was uploaded by someone else")
            elif row.size > limit:
                self.error(key, f"the file is {row.size} bytes; this field takes at most {limit}")
            elif spec.accept and not accepts(spec.accept, row.filename, row.content_type):
                self.error(key, f"this field takes only {', '.join(spec.accept)} files")

    def compute(self, merged: dict[str, Any], context: dict[str, Any]) -> None:
        for key, expression in self.model.computed:
            try:
                value = expression.evaluate({**merged, **context})
            except EvaluationError:
                value = None
            merged[key] = computed_result(self.model.field_specs[key], value)

    def _functions(self, merged: dict[str, Any]) -> dict[str, Any]:
        """The related-record functions, built once per check (lookups are cached in them)."""
        if self._related is None:
            self._related = related_functions(self.conn, self.record_id, merged, self._read)
        return self._related

    def _check_shapes(self, data: dict[str, Any]) -> None:
        """Check the shape of the input fields in ``data``: all of a record's, or (when
        ``current_checked``) the ones a change gives."""
        model = self.model
        projected = {k: data.get(k) for k in model.input_schema["properties"] if k in data}
        validator = model.change_validator if self.current_checked else model.validator
        for problem in field_errors(validator.iter_errors(projected), "data"):
            self.errors.append(problem)

    def _apply_default_expressions(
        self, merged: dict[str, Any], submitted: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        """Fill empty fields from their default expression (e.g. limits copied from a
        referenced definition); they run after references are resolved, so they see
        ids whether the client sent ids or numbers. The values then pass the same
        checks as typed ones. Returns ``submitted`` with the filled fields added."""
        filled: dict[str, Any] = {}
        for key, expression in self.model.default_expressions.items():
            if is_empty(merged.get(key)):
                try:
                    value = expression.evaluate({**merged, **context}, self._functions(merged))
                except EvaluationError:
                    continue
                if value is not None:
                    merged[key] = filled[key] = value
        if not filled:
            return submitted
        self._check_shapes(merged)
        if not self.errors:
            self._normalise(merged, filled)
            self._resolve_references(merged, filled)
        return {**submitted, **filled}

    def _check_rules(self, merged: dict[str, Any], context: dict[str, Any]) -> None:
        """The type's checks across fields; each failing one is shown on its fields."""
        for expression, message, fields in self.model.rules:
            try:
                passed = bool(expression.evaluate({**merged, **context}, self._functions(merged)))
            except EvaluationError as exc:
                passed, message = False, f"{message} ({exc})"
            if not passed:
                for key in fields or ("(record)",):
                    self.error(key, message)

    def _check_conditional(self, merged: dict[str, Any], context: dict[str, Any]) -> None:
        for key, expression in self.model.required_if.items():
            try:
                needed = bool(expression.evaluate({**merged, **context}))
            except EvaluationError:
                needed = False
            if needed and is_empty(merged.get(key)):
                self.error(key, "is required")

    def _check_unique(self, merged: dict[str, Any]) -> None:
        dialect = self.conn.dialect.name
        for key, spec in self.model.field_specs.items():
            value = merged.get(key)
            if not spec.unique or value is None:
                continue
            if self.current is not None and self.current.get(key) == value:
                continue
            conditions = [
                record.c.type_key == type_key_literal(self.model.key),
                field_column(dialect, key, sql_kind(self.model.field_specs[key])) == value,
            ]
            if self.record_id is not None:
                conditions.append(record.c.id != self.record_id)
            clash = self.conn.execute(
                select(func.count()).select_from(record).where(*conditions)
            ).scalar_one()
            if clash:
                self.error(key, f"the value {value!r} is already used by another record")
