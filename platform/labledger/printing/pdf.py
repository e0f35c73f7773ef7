"""HTML pages printed to PDF (A4 unless the page's CSS says otherwise) with WeasyPrint.

Shared by the qualification report and the record dossier. WeasyPrint draws
text with the Pango libraries; a machine without them cannot make PDFs, which
callers report (``NO_PDF``) rather than fail on.
"""

from __future__ import annotations

from typing import Any

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
    """``page`` as a PDF, as printed; None where the machine lacks the Pango
    libraries the PDF engine draws text with."""
    engine = _engine()
    if engine is None:
        return None
    return bytes(engine(string=page).write_pdf())
