"""A page of HTML as a PDF, for reports people print, sign and file.

The validation report and the review reports are standalone HTML documents
(their own styles, page size and page numbers); this turns one into a PDF
the same way for all of them.
"""

from __future__ import annotations

#: Why a report has no PDF, and how to get one.
NO_PDF = (
    "the Pango libraries are missing; install them with "
    "apt-get install libpango-1.0-0 libpangoft2-1.0-0"
)


def printed(page: str) -> bytes | None:
    """``page`` as a PDF (as its own ``@page`` rule lays it out); None where the machine
    lacks the Pango libraries the PDF engine draws text with."""
    try:
        # Imported here: loading the PDF engine costs every command a noticeable start.
        from weasyprint import HTML
    except OSError:
        return None
    return bytes(HTML(string=page).write_pdf())
