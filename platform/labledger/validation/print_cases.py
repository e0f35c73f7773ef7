"""Cases for each print template: it renders for a made-up record of its type, and a
document of a type with signed steps shows the record's signatures.

A certificate that printed without its signature manifest would hand a
customer an unattributed result (21 CFR 11.50: the printed name, time and
meaning go with every printout of a signed record).
"""

from __future__ import annotations

from msgspec import UnsetType

from labledger.errors import ServiceError
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.spec import PrintTemplateSpec, decode
from labledger.metadata.types import type_model
from labledger.printing.render import print_labels, print_record
from labledger.printing.templates import KIND, load_print_template
from labledger.records.create import create_record
from labledger.validation.cases import Case
from labledger.validation.scratch import Scratch
from labledger.validation.values import CannotDerive, needed_data
from labledger.workflows.model import workflow_model

PRINTOUTS = "21 CFR 11.10(b), 11.50; EU Annex 11 §8.1 (clear printed copies, signed)"


def print_cases(scratch: Scratch) -> list[Case]:
    """Every print template, rendered for a record of its type."""
    with scratch.db.read() as conn:
        templates = [
            decode(load_print_template(conn, key)[1], PrintTemplateSpec)
            for key in versions.keys(conn, KIND)
        ]
    return [_render_case(scratch, template) for template in templates]


def _render_case(scratch: Scratch, template: PrintTemplateSpec) -> Case:
    labels = not isinstance(template.labels, UnsetType)
    case = Case(
        id=f"OQ-print-{template.key}",
        area=f"Printouts: {template.label}",
        serves=PRINTOUTS,
        title=f"{template.label} prints a {template.type} record"
        + ("" if labels else ", with its signatures where its type signs"),
        inputs=f"print a made-up {template.type} record",
        expected="its number on the printout" + ("" if labels else ", the signatures section"),
    )
    reader = next(iter(scratch.people.values()))
    try:
        with scratch.db.write() as conn:
            model = type_model(conn, template.type)
            made = create_record(
                conn,
                SYSTEM,
                model.key,
                needed_data(conn, model, reader.username),
                skip_permission=True,
            )
            sheet = (
                print_labels(conn, SYSTEM, model.key, [made["id"]], template.key)
                if labels
                else print_record(conn, SYSTEM, model.key, made["id"], template.key)
            )
            flow = workflow_model(conn, model.workflow) if model.workflow else None
            signs = flow is not None and any(t.signature_meaning for t in flow.spec.transitions)
    except CannotDerive as exc:
        case.manual(str(exc))
        return case
    except ServiceError as exc:
        case.failed(f"not printed: {exc.detail}")
        return case
    text = "".join(str(body) for page in sheet.pages for body in page if body is not None)
    if made["number"] not in text:
        case.failed(f"printed, without the record's number {made['number']}")
    elif not labels and signs and "signature" not in template.template.lower():
        case.failed("printed, without a signatures section: the template names none")
    else:
        case.passed(f"printed {len(sheet.pages)} page(s) with {made['number']}")
    return case
