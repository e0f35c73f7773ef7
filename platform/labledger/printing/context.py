"""What a print template sees: records with labelled, formatted field values.

Each record becomes a plain dictionary (the record view, plus the type's and
state's labels and, per field, its label, unit, stored value and a display
text). Display texts need a few lookups -- the numbers of referenced records,
users' full names, attachment file names -- which are made once for a whole
batch of records, so a page of labels costs the same few queries as one.

The functions a template calls (``field``, ``referencing``, ``referenced``)
check what the caller may read, like every other reader of records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Column, Connection, select

from labledger.audit.queries import record_history
from labledger.db.tables import app_user, attachment, record, record_reference
from labledger.errors import NotFound
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import (
    AttachmentField,
    BooleanField,
    ChoiceField,
    ComputedField,
    DateTimeField,
    DecimalField,
    FieldSpec,
    IntegerField,
    MultiChoiceField,
    ReferenceField,
    UserField,
)
from labledger.metadata.types import readable_model, type_model
from labledger.printing.barcodes import code128, qr
from labledger.printing.sandbox import TemplateProblem, utc
from labledger.records.modified import modified_fields
from labledger.records.origin import migrations_of
from labledger.records.service import record_view
from labledger.workflows.engine import record_with_signatures
from labledger.workflows.model import workflow_model

#: Most records ``referencing()`` returns: a printout silently missing rows would mislead.
REFERENCING_MAX = 2000


def _is_boolean(spec: FieldSpec) -> bool:
    if isinstance(spec, ComputedField):
        return spec.result_type == "boolean"
    return isinstance(spec, BooleanField)


def _unit(spec: FieldSpec) -> str:
    return spec.unit if isinstance(spec, IntegerField | DecimalField) else ""


def _texts(
    conn: Connection, key: Column[Any], text: Column[Any], wanted: set[Any]
) -> dict[Any, str]:
    """``text`` by ``key`` of the rows whose key is wanted, in one query (none if none is)."""
    if not wanted:
        return {}
    return dict(conn.execute(select(key, text).where(key.in_(wanted))).all())


class Lookups:
    """Numbers, names and file names behind stored ids, fetched once per batch.

    ``datas`` are field values of records of ``models`` (one model per data);
    ``users`` are further usernames whose full names are wanted.
    """

    def __init__(
        self,
        conn: Connection,
        datas: list[dict[str, Any]],
        models: list[TypeModel],
        users: Iterable[str] = (),
    ):
        references: set[int] = set()
        wanted_users: set[str] = set(users)
        files: set[int] = set()
        for data, model in zip(datas, models, strict=True):
            for key, spec in model.field_specs.items():
                value = data.get(key)
                if value is None:
                    continue
                if isinstance(spec, ReferenceField):
                    references.update(spec.targets(value))
                elif isinstance(spec, UserField):
                    wanted_users.add(value)
                elif isinstance(spec, AttachmentField):
                    files.add(value)
        self.numbers: dict[int, str] = _texts(conn, record.c.id, record.c.number, references)
        self.names: dict[str, str] = _texts(
            conn, app_user.c.username, app_user.c.full_name, wanted_users
        )
        self.files: dict[int, str] = _texts(conn, attachment.c.id, attachment.c.filename, files)

    def display(self, spec: FieldSpec, value: Any) -> str:
        """The value as a person reads it on paper (escaped later, like everything)."""
        if value is None or value == "" or value == []:
            return ""
        if _is_boolean(spec):
            return "Yes" if value else "No"
        match spec:
            case DecimalField(precision=int(precision)):
                try:
                    return format(Decimal(str(value)), f".{precision}f")
                except InvalidOperation:
                    return str(value)
            case ChoiceField():
                return _option_label(spec, value)
            case MultiChoiceField():
                return ", ".join(_option_label(spec, v) for v in value)
            case ReferenceField():
                return ", ".join(self.numbers.get(v, f"#{v}") for v in spec.targets(value))
            case UserField():
                return self.names.get(value, str(value))
            case AttachmentField():
                return self.files.get(value, f"#{value}")
            case DateTimeField():
                return utc(value)
        return str(value)


def alarm(spec: FieldSpec, value: Any) -> bool:
    """Whether ``value`` is a computed yes/no at its alarm value (an out-of-limits flag)."""
    return isinstance(spec, ComputedField) and isinstance(value, bool) and spec.raises_alarm(value)


def _option_label(spec: ChoiceField | MultiChoiceField, value: Any) -> str:
    return next((o.label for o in spec.options if o.value == value), str(value))


def _reference_field(model: TypeModel, field_key: str, target_type: str | None = None) -> str:
    """The type a reference field points at; a template naming anything else is wrong."""
    spec = model.field_specs.get(field_key)
    if not isinstance(spec, ReferenceField):
        raise TemplateProblem(f"'{field_key}' is not a reference field of {model.label}")
    if target_type is not None and spec.to != target_type:
        raise TemplateProblem(
            f"'{field_key}' of {model.label} refers to '{spec.to}', not '{target_type}'"
        )
    return spec.to


class PrintContext:
    """Template contexts for the records of one printout, sharing what they look up.

    Type versions and workflow state labels are fetched once per printout, so
    a page of labels costs the same queries as a single label.
    """

    def __init__(
        self, conn: Connection, actor: Principal, names: Iterable[str], now: datetime
    ) -> None:
        self.conn = conn
        self.actor = actor
        self.names = tuple(names)
        self.now = now
        self._models: dict[tuple[str, int], TypeModel] = {}
        self._state_labels: dict[str, dict[str, str]] = {}
        #: Every record made printable so far, in order: those printed and those the
        #: template reached (``referencing``, ``referenced``), for the printout's notices.
        self.shown: list[dict[str, Any]] = []

    def model(self, row: dict[str, Any]) -> TypeModel:
        version = (row["type_key"], row["type_version"])
        if version not in self._models:
            self._models[version] = type_model(self.conn, *version)
        return self._models[version]

    def _state_label(self, model: TypeModel, state: str | None) -> str:
        if not model.workflow or state is None:
            return state or ""
        if model.workflow not in self._state_labels:
            try:
                states = workflow_model(self.conn, model.workflow).spec.states
            except NotFound:
                states = ()
            self._state_labels[model.workflow] = {s.key: s.label for s in states}
        return self._state_labels[model.workflow].get(state, state)

    def printable(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records as templates see them, in the order given."""
        if not rows:
            return []
        models = [self.model(row) for row in rows]
        users = [name for row in rows for name in (row["created_by"], row["updated_by"])]
        lookups = Lookups(self.conn, [row["data"] for row in rows], models, users)
        ids = [row["id"] for row in rows]
        migrated = migrations_of(self.conn, ids)
        modified = modified_fields(self.conn, ids)
        result = []
        for row, model in zip(rows, models, strict=True):
            changed = modified.get(row["id"], {})
            fields = [
                {
                    "key": key,
                    "label": spec.label,
                    "type": spec.kind,
                    "unit": _unit(spec),
                    "section": spec.section or None,
                    "value": row["data"].get(key),
                    "display": lookups.display(spec, row["data"].get(key)),
                    "flag": alarm(spec, row["data"].get(key)),
                    "modified": key in changed,
                    "changed_in": changed.get(key, []),
                }
                for key, spec in model.field_specs.items()
            ]
            result.append(
                {
                    **record_view(row),
                    "type_label": model.label,
                    "state_label": self._state_label(model, row["state"]),
                    "created_by_name": lookups.names.get(row["created_by"], row["created_by"]),
                    "updated_by_name": lookups.names.get(row["updated_by"], row["updated_by"]),
                    "fields": fields,
                    "field": {f["key"]: f for f in fields},
                    "migration": migrated.get(row["id"]),
                }
            )
        self.shown.extend(result)
        return result

    def _readable(self, type_key: str) -> TypeModel:
        try:
            return readable_model(self.conn, self.actor, type_key)
        except NotFound:
            raise TemplateProblem(f"there is no object type '{type_key}'") from None

    def for_record(self, row: dict[str, Any], printable: dict[str, Any]) -> dict[str, Any]:
        """The names the template uses, for one record; costly ones only when used."""
        conn, actor = self.conn, self.actor
        model = self.model(row)

        def field(key: str) -> dict[str, Any]:
            found: dict[str, Any] | None = printable["field"].get(key)
            if found is None:
                raise TemplateProblem(f"there is no field '{key}' in {model.spec.plural}")
            return found

        def referencing(type_key: str, field_key: str) -> list[dict[str, Any]]:
            """Records of ``type_key`` whose ``field_key`` points at this record (oldest first)."""
            source = self._readable(type_key)
            _reference_field(source, field_key, row["type_key"])
            rows = (
                conn.execute(
                    select(record)
                    .join(record_reference, record_reference.c.source_id == record.c.id)
                    .where(
                        record_reference.c.target_id == row["id"],
                        record_reference.c.field_key == field_key,
                        record.c.type_key == type_key,
                    )
                    .order_by(record.c.id)
                    .limit(REFERENCING_MAX + 1)
                )
                .mappings()
                .all()
            )
            if len(rows) > REFERENCING_MAX:
                plural = source.spec.plural
                raise TemplateProblem(f"more than {REFERENCING_MAX} {plural} refer to this record")
            return self.printable([dict(r) for r in rows])

        def referenced(field_key: str) -> dict[str, Any] | None:
            """The record this record's reference field points at, or None."""
            target_type = _reference_field(model, field_key)
            target_id = row["data"].get(field_key)
            if target_id is None:
                return None
            self._readable(target_type)
            found = (
                conn.execute(
                    select(record).where(record.c.id == target_id, record.c.type_key == target_type)
                )
                .mappings()
                .first()
            )
            return None if found is None else self.printable([dict(found)])[0]

        providers: dict[str, Callable[[], Any]] = {
            "record": lambda: printable,
            "fields": lambda: printable["fields"],
            "field": lambda: field,
            "signatures": lambda: record_with_signatures(conn, actor, row["type_key"], row["id"])[
                "signatures"
            ],
            "audit": lambda: record_history(conn, actor, row["type_key"], row["id"]),
            "referencing": lambda: referencing,
            "referenced": lambda: referenced,
            "now": lambda: self.now,
            "code128": lambda: code128,
            "qr": lambda: qr,
        }
        return {name: providers[name]() for name in self.names}
