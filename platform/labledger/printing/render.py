"""Printing records: one document, or labels laid out several to a page.

The caller must be allowed to read the records (403 otherwise), the template
must be one for their type, and every record of a printout shares one
:class:`PrintRun`, so the sandbox's limits hold for a whole sheet of labels,
not per label. The result is a :class:`Sheet`: the rendered HTML of each
record, grouped into pages, with the paper and label sizes the page frame
needs for its print CSS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from msgspec import UNSET
from sqlalchemy import Connection, select

from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import FieldError, NotFound, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import PrintTemplateSpec
from labledger.metadata.types import readable_model
from labledger.printing.context import PrintContext
from labledger.printing.sandbox import (
    LIMITS,
    CompiledTemplate,
    Limits,
    PrintRun,
    TemplateProblem,
    compile_template,
)
from labledger.printing.templates import (
    label_gaps_mm,
    page_margin_mm,
    page_size_mm,
    print_template,
    template_page,
)
from labledger.records.modified import modified_notice
from labledger.records.origin import migration_notice
from labledger.records.service import load_row

#: Most labels one printout takes (a few dozen sheets).
MAX_LABELS = 500


@dataclass(frozen=True)
class Sheet:
    """A printout: pages of rendered records and the sizes the print CSS needs."""

    title: str
    width_mm: float
    height_mm: float
    margin_mm: float
    #: Each page's rendered records; None is a label position left blank.
    pages: list[list[Markup | None]]
    #: The template's CSS, for the page's head (checked to hold no '<').
    style: Markup
    #: Label templates only: the grid of one page.
    label_width_mm: float | None = None
    label_height_mm: float | None = None
    columns: int | None = None
    rows: int | None = None
    gap_mm: float = 0
    row_gap_mm: float = 0
    #: What the platform says on every page whatever the template: migrated records,
    #: records with values modified after their first entry.
    notices: tuple[str, ...] = ()


def _failed(key: str, problem: TemplateProblem) -> ValidationFailed:
    return ValidationFailed(
        f"The print template '{key}' could not be printed: {problem}",
        [FieldError("template", str(problem))],
    )


def _template_for(
    conn: Connection, key: str, model: TypeModel
) -> tuple[PrintTemplateSpec, CompiledTemplate]:
    template = print_template(conn, key)
    if template.type != model.key:
        raise NotFound(
            f"Print template '{key}' is not for {model.spec.plural} "
            f"(it prints '{template.type}' records)."
        )
    try:
        if "<" in template.style:  # stored without the publish checks
            raise TemplateProblem("the style must not contain '<'")
        return template, compile_template(template.template)
    except TemplateProblem as problem:
        raise _failed(key, problem) from None


def _render(
    conn: Connection,
    actor: Principal,
    key: str,
    compiled: CompiledTemplate,
    rows: list[dict[str, Any]],
    limits: Limits,
) -> tuple[list[Markup], tuple[str, ...]]:
    """Each record rendered, and what the platform says on every page of the printout."""
    run = PrintRun(limits)
    context = PrintContext(conn, actor, compiled.names, utc_now())
    try:
        bodies = [
            run.render(compiled, context.for_record(row, printable))
            for row, printable in zip(rows, context.printable(rows), strict=True)
        ]
    except TemplateProblem as problem:
        raise _failed(key, problem) from None
    return bodies, _notices(context.shown)


def _notices(printables: list[dict[str, Any]]) -> tuple[str, ...]:
    """Whatever the template shows: one line per migrated record printed or read by the
    template, and one per such record with values changed after their first entry
    (each record once, in order).

    Said by the platform on every page, so no template, shipped or written by an
    administrator, can print a changed value without the reader being told.
    """
    notices: dict[str, None] = {}
    for printable in printables:
        number = printable["number"]
        if printable["migration"] is not None:
            notices[migration_notice(number, printable["migration"])] = None
        changed = [(f["label"], f["changed_in"]) for f in printable["fields"] if f["modified"]]
        if changed:
            notices[modified_notice(number, changed)] = None
    return tuple(notices)


def _sheet(
    template: PrintTemplateSpec,
    title: str,
    bodies: list[Markup],
    notices: tuple[str, ...],
    skip: int = 0,
) -> Sheet:
    page = template_page(template)
    width, height = page_size_mm(page)
    margin = page_margin_mm(page)
    style = Markup(template.style)  # noqa: S704 - CSS without '<' stays in <style>
    labels = template.labels
    if labels is UNSET:
        return Sheet(
            title, width, height, margin, [[body] for body in bodies], style, notices=notices
        )
    per_page = labels.columns * labels.rows
    cells: list[Markup | None] = [None] * skip + list(bodies)
    gap, row_gap = label_gaps_mm(labels)
    return Sheet(
        title,
        width,
        height,
        margin,
        [cells[start : start + per_page] for start in range(0, len(cells), per_page)],
        style,
        label_width_mm=labels.width_mm,
        label_height_mm=labels.height_mm,
        columns=labels.columns,
        rows=labels.rows,
        gap_mm=gap,
        row_gap_mm=row_gap,
        notices=notices,
    )


def print_record(
    conn: Connection,
    actor: Principal,
    type_key: str,
    record_id: int,
    template_key: str,
    *,
    limits: Limits = LIMITS,
) -> Sheet:
    """One record printed with ``template_key`` (a document, or a single label)."""
    model = readable_model(conn, actor, type_key)
    template, compiled = _template_for(conn, template_key, model)
    row = load_row(conn, type_key, record_id)
    bodies, notices = _render(conn, actor, template_key, compiled, [row], limits)
    title = f"{template.label} {row['number']}"
    return _sheet(template, title, bodies, notices)


def print_labels(
    conn: Connection,
    actor: Principal,
    type_key: str,
    record_ids: Sequence[int],
    template_key: str,
    *,
    skip: int = 0,
    limits: Limits = LIMITS,
) -> Sheet:
    """Labels of ``record_ids`` in the order given (repeat an id for more copies).

    ``skip`` leaves the first positions of the first page blank, to finish a
    partly used sheet of labels.
    """
    model = readable_model(conn, actor, type_key)
    if not record_ids:
        raise ValidationFailed(
            "Choose the records to print labels for.", [FieldError("id", "give at least one id")]
        )
    if len(record_ids) > MAX_LABELS:
        raise ValidationFailed(
            "Too many labels for one printout.",
            [FieldError("id", f"at most {MAX_LABELS} labels at a time ({len(record_ids)} given)")],
        )
    template, compiled = _template_for(conn, template_key, model)
    labels = template.labels
    if labels is UNSET:
        raise ValidationFailed(
            f"'{template_key}' prints documents, not labels.",
            [FieldError("template", "choose a label template")],
        )
    per_page = labels.columns * labels.rows
    if not 0 <= skip < per_page:
        raise ValidationFailed(
            "Bad number of label positions to skip.",
            [FieldError("skip", f"must be 0 to {per_page - 1} (a page has {per_page} labels)")],
        )
    found = {
        row["id"]: dict(row)
        for row in conn.execute(
            select(record).where(record.c.id.in_(set(record_ids)), record.c.type_key == type_key)
        ).mappings()
    }
    missing = [str(i) for i in dict.fromkeys(record_ids) if i not in found]
    if missing:
        raise NotFound(
            f"There is no {model.label} with id {', '.join(missing)}: no labels were printed."
        )
    rows = [found[i] for i in record_ids]
    bodies, notices = _render(conn, actor, template_key, compiled, rows, limits)
    title = f"{template.label}: {len(bodies)} labels"
    return _sheet(template, title, bodies, notices, skip=skip)
