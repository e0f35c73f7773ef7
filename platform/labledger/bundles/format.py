"""The bundle document: reading it safely and writing it canonically.

Reading refuses, before anything touches the database, what no import could
use: a file over the size limit, bytes that are not UTF-8 JSON, an object
with a repeated member name (JSON parsers silently keep the last one, so the
author's intent is unknowable), a foreign ``format``, an envelope that does
not match ``metadata/bundle.schema.json``, two items with the same key and
record references that point nowhere. Every problem names its JSON path.

Writing is canonical (sorted keys, two-space indent, UTF-8, trailing newline)
so that an export diffs well in version control and the same configuration
always gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from labledger.canonical import canonical_json, sha256_hex
from labledger.errors import FieldError, PayloadTooLarge, ValidationFailed
from labledger.limits import check_json_depth
from labledger.metadata.messages import field_errors, json_path
from labledger.metadata.schemas import meta_validator
from labledger.metadata.spec import decode
from labledger.metadata.spec.bundle import BundleRecordSpec
from labledger.settings import BUNDLE_MAX_BYTES_ENV

FORMAT = "labledger.bundle/1"
#: The keyed sections, in import order (records follow them). Mappings and print
#: templates name an object type, so they come after the types; dashboards name
#: types, their states and transitions, and roles, so they come last.
KEYED_SECTIONS = ("roles", "workflows", "types", "mappings", "print_templates", "dashboards")
#: Sections whose items the publish services validate themselves, each with its
#: JSON path: the envelope check leaves them out so no item is validated twice.
ITEM_VALIDATED_SECTIONS = ("workflows", "types", "mappings", "print_templates", "dashboards")
DOCUMENT = "(document)"


@dataclass(frozen=True)
class Bundle:
    """A bundle that passed the document checks, with the SHA-256 of its bytes."""

    body: dict[str, Any]
    sha256: str

    @property
    def name(self) -> str:
        name: str = self.body["name"]
        return name

    @property
    def version(self) -> str:
        version: str = self.body["version"]
        return version

    def section(self, name: str) -> list[Any]:
        items: list[Any] = self.body.get(name, [])
        return items

    @cached_property
    def records(self) -> tuple[BundleRecordSpec, ...]:
        """The seed records, decoded once (the document checks have validated them)."""
        return tuple(decode(item, BundleRecordSpec) for item in self.section("records"))


def schema_errors(value: Any, pointer: str = "") -> list[FieldError]:
    """Errors of ``value`` against the bundle schema (``pointer``: e.g. ``#/$defs/demo``)."""
    return field_errors(meta_validator("bundle", pointer).iter_errors(value))


def envelope_errors(body: dict[str, Any]) -> list[FieldError]:
    """Schema errors outside the workflows and types, which their services validate."""
    envelope = {
        key: [] if key in ITEM_VALIDATED_SECTIONS and isinstance(value, list) else value
        for key, value in body.items()
    }
    return schema_errors(envelope)


def parse_bundle(raw: bytes, *, max_bytes: int) -> Bundle:
    """Check a bundle document of at most ``max_bytes`` (the installation's
    ``Settings.bundle_max_bytes``); raise with every problem located by JSON path."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            "The bundle is too large.",
            [
                FieldError(
                    DOCUMENT,
                    f"is {len(raw):,} bytes; the limit is {max_bytes:,} bytes "
                    f"({BUNDLE_MAX_BYTES_ENV})",
                )
            ],
        )
    body = load_json(raw)
    if not isinstance(body, dict):
        raise invalid([FieldError(DOCUMENT, "must be a JSON object")])
    _check_format(body.get("format"))
    errors = envelope_errors(body) + _duplicate_keys(body)
    if not errors:
        errors += record_ref_errors(body.get("records", []))
    if errors:
        raise invalid(errors)
    return Bundle(body, sha256_hex(raw))


def load_json(raw: bytes) -> Any:
    """Decode UTF-8 JSON, refusing NaN, Infinity and repeated member names."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid([FieldError(DOCUMENT, f"is not UTF-8 text (byte {exc.start})")]) from None
    check_json_depth(raw, DOCUMENT)
    repeated: dict[int, list[str]] = {}

    def build_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) < len(pairs):  # rare: only then look for the repeated names
            seen: set[str] = set()
            for name, _ in pairs:
                if name in seen:
                    repeated.setdefault(id(result), []).append(name)
                seen.add(name)
        return result

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(text, object_pairs_hook=build_object, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        message = f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise invalid([FieldError(DOCUMENT, message)]) from None
    except ValueError as exc:
        raise invalid([FieldError(DOCUMENT, f"is not valid JSON: {exc}")]) from None
    if repeated:
        raise invalid(_repeated_names(value, [], repeated))
    return value


def _repeated_names(
    value: Any, path: list[str | int], repeated: dict[int, list[str]]
) -> list[FieldError]:
    errors = []
    if isinstance(value, dict):
        errors += [
            FieldError(json_path([*path, name]), "appears more than once in the same object")
            for name in repeated.get(id(value), [])
        ]
        for name, item in value.items():
            errors += _repeated_names(item, [*path, name], repeated)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors += _repeated_names(item, [*path, index], repeated)
    return errors


def _check_format(found: Any) -> None:
    if found == FORMAT:
        return
    if found is None:
        message = f'is required: a labledger bundle has "format": "{FORMAT}"'
    else:
        message = f"{json.dumps(found)} is not a bundle format this version reads ({FORMAT})"
    raise invalid([FieldError("format", message)])


def _duplicate_keys(body: dict[str, Any]) -> list[FieldError]:
    errors = []
    for section in KEYED_SECTIONS:
        items = body.get(section)
        if not isinstance(items, list):
            continue
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            key = item.get("key") if isinstance(item, dict) else None
            if not isinstance(key, str):
                continue
            if key in first:
                errors.append(
                    FieldError(
                        f"{section}[{index}].key",
                        f"'{key}' is also the key of {section}[{first[key]}]",
                    )
                )
            else:
                first[key] = index
    return errors


def is_record_ref(value: Any) -> bool:
    """``{"ref": "..."}``: a field value standing for another bundle record's id."""
    return isinstance(value, dict) and list(value) == ["ref"] and isinstance(value["ref"], str)


def record_refs(path: str, value: Any) -> list[tuple[str, str]]:
    """(JSON path, ref) of the record refs in a field value: the value itself or list items."""
    if is_record_ref(value):
        return [(f"{path}.ref", value["ref"])]
    if isinstance(value, list):
        return [(f"{path}[{i}].ref", v["ref"]) for i, v in enumerate(value) if is_record_ref(v)]
    return []


def record_ref_errors(records: list[dict[str, Any]], section: str = "records") -> list[FieldError]:
    """Refs must be unique, and a record may refer only to records listed before it."""
    errors = []
    seen: dict[str, int] = {}
    for index, item in enumerate(records):
        for field_key, value in item["data"].items():
            for path, ref in record_refs(f"{section}[{index}].data.{field_key}", value):
                if ref not in seen:
                    errors.append(FieldError(path, f"no earlier record has ref '{ref}'"))
        if item["ref"] in seen:
            errors.append(
                FieldError(
                    f"{section}[{index}].ref",
                    f"'{item['ref']}' is also the ref of {section}[{seen[item['ref']]}]",
                )
            )
        else:
            seen[item["ref"]] = index
    return errors


def invalid(errors: list[FieldError]) -> ValidationFailed:
    return ValidationFailed("The bundle was not imported: nothing was changed.", errors)


def dump_bundle(body: dict[str, Any]) -> bytes:
    """The canonical bytes of a bundle: sorted keys, two-space indent, trailing newline."""
    normalised = json.loads(canonical_json(body))
    text = json.dumps(normalised, indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")
