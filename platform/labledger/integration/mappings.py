"""Import mappings as versioned data: how a file's rows become records.

A mapping is JSON validated by ``metadata/mapping.schema.json`` and then
against its target type as it stands: every mapped field exists and takes
input, lookups sit on reference fields and name the target's number or a
unique field, units sit on number fields and agree with the field's declared
unit, a match names a unique field (or the number, which cannot create). It
is stored in the generic versioned store (kind ``mapping``), so every
version stays readable and an import names the version it used. Publishing
needs ``configure`` and is audited like every configuration change.

A type can change after a mapping was published; the importer checks the
mapping again before it reads a file, so a mapping that no longer fits is
reported as such, never half-applied.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from msgspec import UnsetType
from sqlalchemy import Connection

from labledger.errors import FieldError, Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import CONFIGURE, Principal
from labledger.metadata import versions
from labledger.metadata.messages import field_errors
from labledger.metadata.model import TypeModel
from labledger.metadata.publishing import publish_version
from labledger.metadata.schemas import meta_validator
from labledger.metadata.spec import MappingSpec, decode
from labledger.metadata.spec.fields import DecimalField, IntegerField, ReferenceField
from labledger.metadata.spec.mapping import ColumnSpec, MatchSpec
from labledger.metadata.types import type_model
from labledger.records.service import state_rules
from labledger.records.validation import SYSTEM_SET_MESSAGE

MAPPING_KIND = "mapping"
#: Match and lookup by the record's human number rather than by a field.
BY_NUMBER = "number"
NUMBER_TYPES = ("integer", "decimal")
#: Field types a file cannot set: files are not uploaded through a mapping, and
#: computed fields are never input.
UNMAPPABLE = ("attachment", "computed")


@dataclass(frozen=True)
class Mapping:
    """One published version of a mapping: as stored (``definition``) and decoded (``spec``)."""

    key: str
    version: int
    definition: dict[str, Any]
    spec: MappingSpec

    @property
    def target(self) -> str:
        return self.spec.target

    @property
    def constants(self) -> dict[str, Any]:
        return constants_of(self.spec)

    @property
    def match(self) -> MatchSpec | None:
        return None if isinstance(self.spec.match, UnsetType) else self.spec.match

    @property
    def atomic(self) -> bool:
        return self.spec.mode == "atomic"

    def required_sources(self) -> list[str]:
        """Columns the file must have: every mapped column not marked optional, the
        match column and the unit columns of required columns."""
        wanted: list[str] = []
        for column in self.spec.columns:
            if column.optional:
                continue
            wanted.append(column.source)
            if unit_source := unit_column(column):
                wanted.append(unit_source)
        if self.match:
            wanted.append(self.match.source)
        return list(dict.fromkeys(wanted))

    def known_sources(self) -> set[str]:
        known = {c.source for c in self.spec.columns}
        known |= {source for c in self.spec.columns if (source := unit_column(c))}
        if self.match:
            known.add(self.match.source)
        return known


def constants_of(spec: MappingSpec) -> dict[str, Any]:
    """The field values every row gets (none when the mapping gives none)."""
    return {} if isinstance(spec.constants, UnsetType) else spec.constants


def unit_column(column: ColumnSpec) -> str | None:
    """The column that gives the unit of ``column``'s values, if the mapping names one."""
    if isinstance(column.unit, UnsetType) or isinstance(column.unit.source, UnsetType):
        return None
    return column.unit.source


def _unique_fields(model: TypeModel) -> set[str]:
    return {key for key, fspec in model.field_specs.items() if fspec.unique}


def _model_or_none(conn: Connection, key: str) -> TypeModel | None:
    try:
        return type_model(conn, key)
    except NotFound:
        return None


def mapping_errors(conn: Connection, definition: Any, *, path_prefix: str = "") -> list[FieldError]:
    """Every problem of ``definition`` on its own and against its target type.

    ``path_prefix`` locates the problems inside a larger document, e.g.
    ``mappings[2]`` in a bundle gives ``mappings[2].columns[0].field``.
    """
    errors = field_errors(meta_validator("mapping").iter_errors(definition), path_prefix)
    if errors:
        return errors
    spec = decode(definition, MappingSpec)

    def error(path: str, message: str) -> None:
        errors.append(FieldError(f"{path_prefix}.{path}" if path_prefix else path, message))

    try:
        codecs.lookup(spec.encoding)
    except LookupError:
        error("encoding", f"there is no text encoding '{spec.encoding}'")
    if spec.delimiter == spec.decimal_separator:
        error("decimal_separator", "must differ from the delimiter")
    model = _model_or_none(conn, spec.target)
    if model is None:
        error("target", f"there is no object type '{spec.target}'")
        return errors
    mapped = Counter(c.field for c in spec.columns)
    system_set = _system_set(conn, model)
    for index, column in enumerate(spec.columns):
        for path, message in _column_problems(conn, model, column, mapped, system_set):
            error(f"columns[{index}]{path}", message)
    for key in constants_of(spec):
        problem = _settable(model, key, system_set)
        if problem:
            error(f"constants.{key}", problem)
        elif key in mapped:
            error(f"constants.{key}", "is also mapped from a column")
    match = spec.match
    if not isinstance(match, UnsetType):
        if match.by == BY_NUMBER:
            if match.create:
                error("match.create", "must be false: records are not created with a given number")
        elif match.by not in _unique_fields(model):
            error("match.by", f"must be 'number' or a unique field of {model.label}")
    return errors


def _system_set(conn: Connection, model: TypeModel) -> frozenset[str]:
    """The type's fields only the system sets (its workflow's, when that is published)."""
    try:
        return state_rules(conn, model, None).system_set
    except NotFound:  # the workflow is refused in the same bundle: reported there
        return model.system_set


def _settable(model: TypeModel, key: str, system_set: frozenset[str]) -> str | None:
    fspec = model.field_specs.get(key)
    if fspec is None:
        return f"{model.label} has no field '{key}'"
    if fspec.kind in UNMAPPABLE:
        return f"is a {fspec.kind} field, which an import cannot set"
    if key in system_set:
        return f"'{key}' {SYSTEM_SET_MESSAGE}, so an import cannot set it"
    return None


def _column_problems(
    conn: Connection,
    model: TypeModel,
    column: ColumnSpec,
    mapped: Counter[str],
    system_set: frozenset[str],
) -> Iterable[tuple[str, str]]:
    key = column.field
    problem = _settable(model, key, system_set)
    if problem:
        yield ".field", problem
        return
    if mapped[key] > 1:
        yield ".field", f"'{key}' is mapped from more than one column"
    fspec = model.field_specs[key]
    lookup = column.lookup
    if not isinstance(lookup, UnsetType):
        if not isinstance(fspec, ReferenceField):
            yield ".lookup", "only a reference field can look records up"
        elif lookup.by != BY_NUMBER:
            target = _model_or_none(conn, fspec.to)
            if target is None or lookup.by not in _unique_fields(target):
                yield ".lookup.by", f"must be 'number' or a unique field of type '{fspec.to}'"
    unit = column.unit
    if not isinstance(unit, UnsetType):
        if not isinstance(fspec, IntegerField | DecimalField):
            yield ".unit", "only a number field has a unit"
        elif fspec.unit and unit.expected != fspec.unit:
            yield ".unit.expected", f"the field '{key}' is in {fspec.unit}"


def require_configure(actor: Principal) -> None:
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Publishing import mappings needs the 'configure' permission.")


def publish_mapping(
    conn: Connection, actor: Principal, definition: Any, *, path_prefix: str = ""
) -> versions.Published:
    """Validate and publish ``definition`` as the next version of its mapping.

    An unchanged definition changes nothing; a changed one becomes a new
    immutable version, audited as ``config.publish`` with a field-level diff.
    ``path_prefix`` locates errors inside a larger document (a bundle).
    """
    require_configure(actor)
    errors = mapping_errors(conn, definition, path_prefix=path_prefix)
    if errors:
        raise ValidationFailed("The import mapping is not valid.", errors)
    return publish_version(
        conn, actor.username, MAPPING_KIND, definition, details={"target": definition["target"]}
    )


def load_mapping(conn: Connection, key: str, version: int | None = None) -> Mapping:
    """The current (or a given) version of mapping ``key``."""
    body: dict[str, Any] | None
    if version is None:
        found = versions.current(conn, MAPPING_KIND, key)
        if found is None:
            raise NotFound(f"There is no import mapping '{key}'.")
        version, body = found
    else:
        body = versions.body_at(conn, MAPPING_KIND, key, version)
        if body is None:
            raise NotFound(f"Import mapping '{key}' has no version {version}.")
    return Mapping(key, version, body, decode(body, MappingSpec))


def _may_read(conn: Connection, actor: Principal, mapping: Mapping) -> bool:
    if actor.has_permission(CONFIGURE):
        return True
    model = _model_or_none(conn, mapping.target)
    return model is not None and model.allows(actor, "read")


def readable_mapping(
    conn: Connection, actor: Principal, key: str, version: int | None = None
) -> Mapping:
    """A mapping for someone who may read its target type's records (or configure)."""
    mapping = load_mapping(conn, key, version)
    if not _may_read(conn, actor, mapping):
        raise Forbidden(f"You may not read import mapping '{key}'.")
    return mapping


def mapping_summary(mapping: Mapping) -> dict[str, Any]:
    return {
        "key": mapping.key,
        "label": mapping.spec.label,
        "target": mapping.target,
        "format": mapping.spec.format,
        "mode": mapping.spec.mode,
        "version": mapping.version,
    }


def list_mappings(conn: Connection, actor: Principal) -> list[dict[str, Any]]:
    """The mappings whose target type the caller may read (all for a configurer)."""
    found = [load_mapping(conn, key) for key in versions.keys(conn, MAPPING_KIND)]
    return [mapping_summary(m) for m in found if _may_read(conn, actor, m)]


def mapping_history(conn: Connection, actor: Principal, key: str) -> list[dict[str, Any]]:
    """Every version of a mapping, oldest first: version, time, publisher and definition."""
    readable_mapping(conn, actor, key)
    return [
        {
            "version": row["version"],
            "published_at": row["published_at"],
            "published_by": row["published_by"],
            "definition": row["body"],
        }
        for row in versions.all_versions(conn, MAPPING_KIND, key)
    ]


def export_mappings(conn: Connection, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Current definitions for a configuration bundle: all, or those targeting ``types``."""
    wanted = None if types is None else set(types)
    result = []
    for key in versions.keys(conn, MAPPING_KIND):
        mapping = load_mapping(conn, key)
        if wanted is None or mapping.target in wanted:
            result.append(mapping.definition)
    return result
