"""Print templates as configuration: validate, publish (versioned, audited), read.

A print template is data, like an object type: a JSON definition checked
against ``metadata/print_template.schema.json`` and stored as an immutable
version of the configuration kind ``print_template``. Publishing checks what
the schema cannot: the type exists, labels fit on the page, and the Jinja
source parses and keeps to the sandbox's rules, every problem with its line.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from labledger.errors import FieldError, Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import CONFIGURE, Principal
from labledger.metadata import versions
from labledger.metadata.messages import field_errors
from labledger.metadata.model import TypeModel
from labledger.metadata.publishing import publish_version
from labledger.metadata.schemas import meta_validator
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model
from labledger.printing.sandbox import template_problems

KIND = "print_template"

#: Named paper sizes, portrait (width, height) in millimetres.
PAPER_MM: dict[str, tuple[float, float]] = {
    "A3": (297, 420),
    "A4": (210, 297),
    "A5": (148, 210),
    "Letter": (215.9, 279.4),
    "Legal": (215.9, 355.6),
}
DEFAULT_MARGIN_MM = 10
#: Rounding slack when checking that labels fit (label sheets are specified to 0.1 mm).
_FIT_SLACK_MM = 0.05


def page_size_mm(page: dict[str, Any]) -> tuple[float, float]:
    """(width, height) of the paper in mm, turned for landscape."""
    size = page.get("size", "A4")
    if size == "custom":
        width, height = page["width_mm"], page["height_mm"]
    else:
        width, height = PAPER_MM[size]
    if page.get("orientation") == "landscape":
        width, height = height, width
    return width, height


def _settings_errors(definition: dict[str, Any], prefix: str) -> list[FieldError]:
    def at(path: str) -> str:
        return f"{prefix}.{path}" if prefix else path

    page = definition.get("page", {})
    errors = []
    custom = page.get("size") == "custom"
    for name in ("width_mm", "height_mm"):
        if custom and name not in page:
            errors.append(FieldError(at(f"page.{name}"), "is required for a custom page size"))
        if not custom and name in page:
            errors.append(FieldError(at(f"page.{name}"), "is only for page size 'custom'"))
    if "<" in definition.get("style", ""):
        errors.append(FieldError(at("style"), "is CSS, not HTML: it must not contain '<'"))
    labels = definition.get("labels")
    if definition["kind"] == "document" and labels is not None:
        errors.append(FieldError(at("labels"), "only label templates have label settings"))
    if errors or labels is None:
        return errors
    width, height = page_size_mm(page)
    margin = page.get("margin_mm", DEFAULT_MARGIN_MM)
    column_gap = labels.get("gap_mm", 0)
    row_gap = labels.get("row_gap_mm", column_gap)
    for count, size, gap, room, name in (
        (labels["columns"], labels["width_mm"], column_gap, width - 2 * margin, "columns"),
        (labels["rows"], labels["height_mm"], row_gap, height - 2 * margin, "rows"),
    ):
        needed = count * size + (count - 1) * gap
        if needed > room + _FIT_SLACK_MM:
            errors.append(
                FieldError(
                    at(f"labels.{name}"),
                    f"{count} {name} of {size:g} mm with {gap:g} mm gaps need {needed:g} mm; "
                    f"the page has {room:g} mm inside its margins",
                )
            )
    return errors


def print_template_errors(conn: Connection, definition: Any, prefix: str = "") -> list[FieldError]:
    """Every problem of ``definition``, each located by JSON path (``template`` with its line)."""
    errors = field_errors(meta_validator("print_template").iter_errors(definition), prefix)
    if errors:
        return errors
    errors = _settings_errors(definition, prefix)
    if versions.current_version(conn, TYPE_KIND, definition["type"]) is None:
        errors.append(
            FieldError(
                f"{prefix}.type" if prefix else "type",
                f"there is no object type '{definition['type']}'",
            )
        )
    template_path = f"{prefix}.template" if prefix else "template"
    errors += [FieldError(template_path, str(p)) for p in template_problems(definition["template"])]
    return errors


def publish_print_template(
    conn: Connection, actor: Principal, definition: Any, *, path_prefix: str = ""
) -> versions.Published:
    """Validate and publish the next version of a print template (audited).

    Publishing an unchanged definition changes nothing and writes no audit event.
    """
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Publishing print templates needs the 'configure' permission.")
    errors = print_template_errors(conn, definition, path_prefix)
    if errors:
        raise ValidationFailed("The print template is not valid.", errors)
    return publish_version(conn, actor.username, KIND, definition)


def _may_read(conn: Connection, actor: Principal, type_key: str) -> bool:
    if actor.has_permission(CONFIGURE):
        return True
    try:
        model: TypeModel = type_model(conn, type_key)
    except NotFound:
        return False
    return model.allows(actor, "read")


def load_print_template(conn: Connection, key: str) -> tuple[int, dict[str, Any]]:
    """(version, definition) of the current version of ``key``."""
    found = versions.current(conn, KIND, key)
    if found is None:
        raise NotFound(f"There is no print template '{key}'.")
    return found


def read_print_template(conn: Connection, actor: Principal, key: str) -> dict[str, Any]:
    """A template for whoever may read records of its type (or configure)."""
    version, definition = load_print_template(conn, key)
    if not _may_read(conn, actor, definition["type"]):
        raise Forbidden(f"Print template '{key}' prints records you may not read.")
    return {"key": key, "version": version, "definition": definition}


def list_print_templates(
    conn: Connection, actor: Principal, type_key: str | None = None
) -> list[dict[str, Any]]:
    """The templates the caller may print with (optionally those of one type)."""
    result = []
    for key in versions.keys(conn, KIND):
        version, definition = load_print_template(conn, key)
        if type_key is not None and definition["type"] != type_key:
            continue
        if _may_read(conn, actor, definition["type"]):
            result.append(
                {
                    "key": key,
                    "label": definition["label"],
                    "type": definition["type"],
                    "kind": definition["kind"],
                    "version": version,
                }
            )
    return result
