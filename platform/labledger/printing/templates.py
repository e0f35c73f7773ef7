"""Print templates as configuration: validate, publish (versioned, audited), read.

A print template is data, like an object type: a JSON definition checked
against ``metadata/print_template.schema.json`` and stored as an immutable
version of the configuration kind ``print_template``. Publishing checks what
the schema cannot: the type exists, labels fit on the page, and the Jinja
source parses and keeps to the sandbox's rules, every problem with its line.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET
from sqlalchemy import Connection

from labledger.errors import FieldError, Forbidden, NotFound
from labledger.identity.principal import CONFIGURE, Principal
from labledger.metadata import versions
from labledger.metadata.messages import field_errors
from labledger.metadata.model import TypeModel
from labledger.metadata.publishing import publish_checked
from labledger.metadata.schemas import meta_validator
from labledger.metadata.spec import PrintTemplateSpec, decode
from labledger.metadata.spec.print_template import LabelGridSpec, PageSpec
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


def template_page(template: PrintTemplateSpec) -> PageSpec:
    """The template's paper (A4 portrait with the default margin when it names none)."""
    return PageSpec() if template.page is UNSET else template.page


def page_size_mm(page: PageSpec) -> tuple[float, float]:
    """(width, height) of the paper in mm, turned for landscape.

    A custom size has both lengths: publishing refuses one without them."""
    if page.size == "custom" and page.width_mm is not UNSET and page.height_mm is not UNSET:
        width, height = page.width_mm, page.height_mm
    else:
        width, height = PAPER_MM[page.size or "A4"]
    if page.orientation == "landscape":
        width, height = height, width
    return width, height


def page_margin_mm(page: PageSpec) -> float:
    return DEFAULT_MARGIN_MM if page.margin_mm is UNSET else page.margin_mm


def label_gaps_mm(labels: LabelGridSpec) -> tuple[float, float]:
    """(between columns, between rows): rows take the column gap unless given their own."""
    column = 0 if labels.gap_mm is UNSET else labels.gap_mm
    return column, column if labels.row_gap_mm is UNSET else labels.row_gap_mm


def _settings_errors(template: PrintTemplateSpec, prefix: str) -> list[FieldError]:
    def at(path: str) -> str:
        return f"{prefix}.{path}" if prefix else path

    page = template_page(template)
    errors = []
    custom = page.size == "custom"
    for name, length in (("width_mm", page.width_mm), ("height_mm", page.height_mm)):
        if custom and length is UNSET:
            errors.append(FieldError(at(f"page.{name}"), "is required for a custom page size"))
        if not custom and length is not UNSET:
            errors.append(FieldError(at(f"page.{name}"), "is only for page size 'custom'"))
    if "<" in template.style:
        errors.append(FieldError(at("style"), "is CSS, not HTML: it must not contain '<'"))
    labels = template.labels
    if template.kind == "document" and labels is not UNSET:
        errors.append(FieldError(at("labels"), "only label templates have label settings"))
    if errors or labels is UNSET:
        return errors
    width, height = page_size_mm(page)
    margin = page_margin_mm(page)
    column_gap, row_gap = label_gaps_mm(labels)
    for count, size, gap, room, name in (
        (labels.columns, labels.width_mm, column_gap, width - 2 * margin, "columns"),
        (labels.rows, labels.height_mm, row_gap, height - 2 * margin, "rows"),
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
    template = decode(definition, PrintTemplateSpec)
    errors = _settings_errors(template, prefix)
    if versions.current_version(conn, TYPE_KIND, template.type) is None:
        errors.append(
            FieldError(
                f"{prefix}.type" if prefix else "type",
                f"there is no object type '{template.type}'",
            )
        )
    template_path = f"{prefix}.template" if prefix else "template"
    errors += [FieldError(template_path, str(p)) for p in template_problems(template.template)]
    return errors


def publish_print_template(
    conn: Connection, actor: Principal, definition: Any, *, path_prefix: str = ""
) -> versions.Published:
    """Validate and publish the next version of a print template (audited)."""
    return publish_checked(
        conn,
        actor,
        KIND,
        definition,
        lambda: print_template_errors(conn, definition, path_prefix),
        noun="print template",
        plural="print templates",
    )


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


def print_template(conn: Connection, key: str) -> PrintTemplateSpec:
    """The current version of ``key``, decoded: what printing reads."""
    _version, definition = load_print_template(conn, key)
    return decode(definition, PrintTemplateSpec)


def read_print_template(conn: Connection, actor: Principal, key: str) -> dict[str, Any]:
    """A template for whoever may read records of its type (or configure)."""
    version, definition = load_print_template(conn, key)
    if not _may_read(conn, actor, decode(definition, PrintTemplateSpec).type):
        raise Forbidden(f"Print template '{key}' prints records you may not read.")
    return {"key": key, "version": version, "definition": definition}


def list_print_templates(
    conn: Connection, actor: Principal, type_key: str | None = None
) -> list[dict[str, Any]]:
    """The templates the caller may print with (optionally those of one type)."""
    result = []
    for key in versions.keys(conn, KIND):
        version, definition = load_print_template(conn, key)
        template = decode(definition, PrintTemplateSpec)
        if type_key is not None and template.type != type_key:
            continue
        if _may_read(conn, actor, template.type):
            result.append(
                {
                    "key": key,
                    "label": template.label,
                    "type": template.type,
                    "kind": template.kind,
                    "version": version,
                }
            )
    return result
