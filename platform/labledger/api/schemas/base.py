"""The base of every API body, and the one way a handler turns service data into one."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

Body = TypeVar("Body", bound=msgspec.Struct)

#: Free-form JSON the admin or the client defines (record data, definitions, payloads).
JsonObject = dict[str, Any]


class RequestStruct(msgspec.Struct, forbid_unknown_fields=True):
    """A request body: unknown members are refused (400), never silently dropped."""


class ResponseStruct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A response body.

    Unknown members are refused when service data is shaped into it, so a key a
    service adds without its struct (and so without the OpenAPI document)
    fails the test suite instead of going undocumented or silently missing.
    """


def shaped(value: Any, kind: type[Body]) -> Body:
    """Service data (dicts, lists, datetimes) as the response struct ``kind``."""
    return msgspec.convert(value, kind)


class Published(ResponseStruct):
    """A definition published: its new version, and whether it differed from the last."""

    key: str
    version: int
    changed: bool


class VersionedDefinition(ResponseStruct):
    """A definition (workflow, mapping, print template) at one version."""

    key: str
    version: int
    definition: JsonObject


class FieldProblem(ResponseStruct):
    """One problem with one input location, as in a problem document's ``errors``."""

    field: str
    message: str
