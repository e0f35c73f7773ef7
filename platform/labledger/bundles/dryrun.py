"""A dry run of a bundle import: the whole import, in a transaction never committed.

The report says exactly what the import would do, because it is the import:
every item is published and every record created through its service, with
the same locks, and then all of it is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Unpack

from sqlalchemy import Connection

from labledger.bundles.apply import RawOptions, import_raw
from labledger.bundles.report import ImportReport
from labledger.change_gate import passage
from labledger.db.engine import Database, numbers_kept_inside
from labledger.identity.principal import Principal


def preview_bundle(
    db: Database, actor: Principal, raw: bytes, **options: Unpack[RawOptions]
) -> ImportReport:
    """What importing ``raw`` would do; the database is left exactly as it was."""
    return import_raw(
        partial(rolled_back, db),
        actor,
        raw,
        max_bytes=db.settings.bundle_max_bytes,
        dry_run=True,
        **options,
    )


@contextmanager
def rolled_back(db: Database) -> Iterator[Connection]:
    """A write transaction (the same locks as an import) that never commits.

    Being rolled back, it may write configuration with change control on. It
    reserves record numbers inside the transaction, so a preview uses none up
    (see ``records.numbering``).
    """
    with db.connect() as conn:
        conn = conn.execution_options(write=True)
        transaction = conn.begin()
        try:
            with passage(conn, None), numbers_kept_inside(conn):
                yield conn
        finally:
            transaction.rollback()
