"""HTML pages printed to PDF with WeasyPrint, for documents people print, sign and file.

The qualification report, the periodic and access reviews and the record
dossier are standalone HTML documents (their own styles, ``@page`` size and
page numbers); this turns each into a PDF the same way. WeasyPrint draws text
with the Pango libraries: a machine without them cannot make PDFs, which the
qualification report notes (``printed`` gives None) and a request for a PDF
is refused for (``pdf_of``), never a failure.
"""

from __future__ import annotations

from typing import Any

from labledger.errors import Unavailable

#: Why there is no PDF, and how to get one.
NO_PDF = (
    "the Pango libraries are missing; install them with "
    "apt-get install libpango-1.0-0 libpangoft2-1.0-0"
)


def _engine() -> Any:
    """WeasyPrint's ``HTML``, or None where the Pango libraries are missing."""
    try:
        # Imported here: loading the PDF engine costs every command a noticeable start.
        from weasyprint import HTML
    except OSError:
        return None
    return HTML


def printed(page: str) -> bytes | None:
    """``page`` as a PDF, as its own ``@page`` rule lays it out (A4 unless it says
    otherwise); None where the machine lacks the libraries the PDF engine draws with."""
    engine = _engine()
    if engine is None:
        return None
    return bytes(engine(string=page).write_pdf())


def pdf_of(page: str) -> bytes:
    """``page`` as a PDF, or ``Unavailable`` (503) where this machine cannot make one."""
    pdf = printed(page)
    if pdf is None:
        raise Unavailable(f"This installation cannot make PDF files: {NO_PDF}.")
    return pdf
