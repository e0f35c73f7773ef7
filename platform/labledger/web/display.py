"""Showing stored values to people: labels of choices, numbers of referenced
records, file names, decimals with their places, times in UTC said as such.

Values are turned into plain text here; the templates escape that text, so
nothing an admin or a user typed can become markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection

from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import (
    ChoiceField,
    ComputedField,
    DecimalField,
    FieldSpec,
    IntegerField,
    MultiChoiceField,
)
from labledger.printing.sandbox import utc
from labledger.records.related import attachment_summaries, record_summaries


@dataclass(frozen=True)
class Shown:
    """A value ready for a page: its text, a link where it points somewhere."""

    text: str
    href: str | None = None
    #: A computed yes/no at its alarm value (such as an out-of-limits flag): shown emphasised.
    flag: bool = False

    @property
    def empty(self) -> bool:
        return self.text == ""


EMPTY = Shown("")


def utc_text(moment: datetime | str | None) -> str:
    """A moment as ``2026-05-01 14:30:05 UTC``: the time zone always written out, as
    printouts write it (their ``utc`` filter)."""
    return utc(moment)


def decimal_text(value: Any, precision: int | None) -> str:
    if precision is None or isinstance(value, bool):
        return str(value)
    try:
        return f"{Decimal(str(value)):.{precision}f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _option_labels(fdef: ChoiceField | MultiChoiceField) -> dict[str, str]:
    return {o.value: o.label for o in fdef.options}


def _with_unit(text: str, unit: str) -> Shown:
    return Shown(f"{text} {unit}" if unit else text)


def ids_of(model: TypeModel, datas: Iterable[dict[str, Any]], field_type: str) -> set[int]:
    """The ids that fields of ``field_type`` (reference or attachment) hold in ``datas``."""
    keys = [k for k, f in model.field_specs.items() if f.kind == field_type]
    return {d[k] for d in datas for k in keys if isinstance(d.get(k), int)}


class Formatter:
    """Turns field values into ``Shown`` text, with the lookups of one page done up front."""

    def __init__(
        self,
        records: dict[int, dict[str, Any]],
        attachments: dict[int, dict[str, Any]],
        attachment_base: str | None,
    ) -> None:
        self.records = records
        self.attachments = attachments
        #: Where a record's files are downloaded (``/records/{type}/{id}/attachments``).
        self.attachment_base = attachment_base

    @classmethod
    def load(
        cls,
        conn: Connection,
        actor: Principal,
        model: TypeModel,
        datas: Iterable[dict[str, Any]],
        attachment_base: str | None = None,
    ) -> Formatter:
        datas = list(datas)
        return cls(
            record_summaries(conn, actor, ids_of(model, datas, "reference")),
            attachment_summaries(conn, ids_of(model, datas, "attachment")),
            attachment_base,
        )

    def value(self, fdef: FieldSpec, value: Any) -> Shown:
        if value is None or value == "" or value == []:
            return EMPTY
        match fdef:
            case ComputedField():
                return self._computed(fdef, value)
            case IntegerField():
                return _with_unit(str(value), fdef.unit)
            case DecimalField():
                places = fdef.precision if isinstance(fdef.precision, int) else None
                return _with_unit(decimal_text(value, places), fdef.unit)
            case ChoiceField():
                return Shown(_option_labels(fdef).get(value, str(value)))
            case MultiChoiceField():
                labels = _option_labels(fdef)
                return Shown(", ".join(labels.get(v, str(v)) for v in value))
        kind = fdef.kind
        if kind == "boolean":
            return Shown("Yes" if value else "No")
        if kind == "datetime":
            return Shown(utc_text(value))
        if kind == "reference":
            return self.reference(value)
        if kind == "attachment":
            found = self.attachments.get(value)
            if found is None:
                return Shown(f"file {value}")
            href = f"{self.attachment_base}/{value}" if self.attachment_base else None
            return Shown(f"{found['filename']} ({found['size']:,} bytes)", href)
        return Shown(str(value))

    def reference(self, record_id: Any) -> Shown:
        found = self.records.get(record_id) if isinstance(record_id, int) else None
        if found is None:
            return Shown(f"record {record_id}")
        number, title = found["number"], found["title"] or ""
        title = title.removeprefix(number).strip()
        text = f"{number} · {title}" if title else number
        return Shown(text, f"/records/{found['type']}/{found['id']}")

    def _computed(self, fdef: ComputedField, value: Any) -> Shown:
        if isinstance(value, bool):
            return Shown("Yes" if value else "No", flag=fdef.raises_alarm(value))
        return Shown(str(value))


def sections(model: TypeModel, keys: Iterable[str]) -> list[tuple[str | None, list[str]]]:
    """``keys`` grouped by the type's sections, in definition order.

    Fields without a section come first, under no heading.
    """
    wanted = set(keys)
    labels = {s.key: s.label for s in model.spec.sections}
    groups: dict[str | None, list[str]] = {None: []}
    for section in labels:
        groups[section] = []
    for key, fdef in model.field_specs.items():
        if key in wanted:
            section = fdef.section
            groups[section if section in labels else None].append(key)
    return [(labels.get(s) if s else None, keys_) for s, keys_ in groups.items() if keys_]
