"""Object types and print templates: summaries, definitions and their JSON Schema."""

from __future__ import annotations

from labledger.api.schemas.base import JsonObject, ResponseStruct


class TypeSummary(ResponseStruct):
    key: str
    label: str
    plural: str
    version: int
    #: The workflow records of this type follow (None: records have no states).
    workflow: str | None


class TypeList(ResponseStruct):
    items: list[TypeSummary]


class TypeDetail(ResponseStruct):
    """A type's current definition and the JSON Schema of its records' ``data``."""

    key: str
    version: int
    definition: JsonObject
    json_schema: JsonObject


class PrintTemplateSummary(ResponseStruct):
    key: str
    label: str
    #: The object type whose records the template prints.
    type: str
    #: sheet (one record per page) or label (many records per page).
    kind: str
    version: int


class PrintTemplateList(ResponseStruct):
    items: list[PrintTemplateSummary]
