"""A dossier as a document: JSON for machines, HTML to read, PDF (A4) to keep and hand over.

All three are made from the one ``Dossier`` the service assembled, so they
cannot say different things.
"""

from __future__ import annotations

from functools import cache

import msgspec
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from labledger.dossier.model import Dossier
from labledger.printing.pdf import pdf_of
from labledger.printing.sandbox import utc
from labledger.resources import data_path


def dossier_json(dossier: Dossier) -> bytes:
    """The dossier as JSON (the API's answer, byte for byte)."""
    return msgspec.json.encode(dossier)


def read_dossier_json(body: bytes) -> Dossier:
    """A dossier read back from its JSON (unknown members refused)."""
    return msgspec.json.decode(body, type=Dossier)


@cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(data_path("ui", "templates", "dossier")),
        autoescape=select_autoescape(default=True),
    )
    environment.filters["utc"] = utc
    return environment.get_template("dossier.html")


def dossier_html(dossier: Dossier) -> str:
    """The dossier as a standalone HTML page (A4 when printed)."""
    return _template().render(d=dossier)


def dossier_pdf(dossier: Dossier) -> bytes:
    """The dossier as a PDF; ``Unavailable`` where this machine cannot make one."""
    return pdf_of(dossier_html(dossier))
