"""Running an import mapping over a file: the entry points, gathered from their rooms.

Both a dry run and an apply read the file the same way (``rows``: size,
encoding, header, cell conversion, units), resolve lookups by human key in
batches, find the records an update ``match`` names, and catch what the file
says twice. Every problem is a row error with its line number, column and
field. An import run is unique per mapping and file hash: the same file is
never imported twice through the same mapping.

- ``resolve``: lookups, matches, repeats, and the import run made before;
- ``dryrun``: reading and checking the file, and the record service's checks
  of each row, writing nothing;
- ``apply``: the write transaction and its ``import.apply`` audit event;
- ``report``: the row-by-row report, and the import runs as listed.
"""

from __future__ import annotations

from labledger.integration.apply import apply_import
from labledger.integration.dryrun import preview_import
from labledger.integration.report import ImportReport, get_import, list_imports

__all__ = ["ImportReport", "apply_import", "get_import", "list_imports", "preview_import"]
