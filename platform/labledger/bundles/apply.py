"""Importing a bundle: the transaction that writes all of it, or nothing.

An import runs in one transaction: roles, then workflows, then object types,
then import mappings and print templates (each names a type), then
dashboards (they name types, states, transitions and roles), then records,
each through the service that publishes it on its own (so a bundle is
validated exactly like an admin's edit, and each published item is audited
like one), then one ``config.import`` audit event with the bundle's SHA-256
and a summary. A dry run (``labledger.bundles.dryrun``) is the same import in
a transaction that is rolled back: it checks everything the import would
(record data, new unique indexes over existing records) and reports exactly
what the import would do; it skips only the database objects that cannot
fail (list indexes, report views).

Each item remembers where it came from (``config_item.source_*``): bundle name,
version and the hash of the definition as imported. On a later import the
three versions of an item -- as imported before, as it is now, as the bundle
has it -- decide what happens, as in a three-way merge
(``labledger.bundles.resolve.classify``):

- unchanged here since imported: the bundle's version is published;
- changed here, but the bundle's item is the one imported before: the local
  change is kept ("kept");
- changed here and changed in the bundle, or never imported from this bundle:
  a conflict, and the import is refused unless forced.

Roles are not versioned; their ``config_item`` row (current version 0) only
remembers their source. Records are created once: the bundle's manifest (a
versioned item of kind ``bundle`` named after the bundle) maps each record
ref to the record created for it, so a second import skips them.

Importing the same bundle again writes nothing at all, not even an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ParamSpec, TypedDict, TypeVar, Unpack

from msgspec import UnsetType
from sqlalchemy import Connection, bindparam, insert, update

from labledger.audit.results import config_result
from labledger.audit.trail import AuditEntry, append, written_together
from labledger.bundles.access import require_configure
from labledger.bundles.format import KEYED_SECTIONS, Bundle, invalid, parse_bundle
from labledger.bundles.impact import item_changes
from labledger.bundles.migration import Migrated, reconcile
from labledger.bundles.publish import ItemPublisher
from labledger.bundles.report import ImportReport, ItemReport, RecordReport
from labledger.bundles.resolve import (
    BUNDLE_KIND,
    ROLE_KIND,
    SECTION_KIND,
    SECTION_LABEL,
    Source,
    classify,
    created_records,
    record_problems,
    role_body,
    stored_item,
    with_ids,
)
from labledger.canonical import content_hash
from labledger.db.engine import Database
from labledger.db.tables import config_item
from labledger.db.types import utc_now
from labledger.errors import Conflict, FieldError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata import versions
from labledger.metadata.spec.bundle import BundleRecordSpec
from labledger.records.origin import migration_detail
from labledger.records.service import create_record

#: The audit action of an imported bundle (its manifest is a configuration version).
IMPORT_ACTION = "config.import"

#: Remembers an item's source: executed with one parameter set per item.
_TRACK_SOURCE = update(config_item).where(
    config_item.c.kind == bindparam("item_kind"), config_item.c.key == bindparam("item_key")
)

_P = ParamSpec("_P")
_T = TypeVar("_T")


class RawOptions(TypedDict, total=False):
    """How to import a bundle's bytes: see ``import_bundle``."""

    force: bool
    migrate: bool


class ImportOptions(RawOptions, total=False):
    """How to import a bundle, a dry run included: see ``import_bundle``."""

    dry_run: bool


def apply_bundle(
    db: Database, actor: Principal, raw: bytes, **options: Unpack[RawOptions]
) -> ImportReport:
    """Import ``raw`` in one transaction; refused as a whole on any problem or conflict."""
    # All or nothing, records included: a failed import gives its numbers back.
    transaction = partial(db.write, numbers_in_transaction=True)
    return import_raw(transaction, actor, raw, max_bytes=db.settings.bundle_max_bytes, **options)


def import_raw(
    transaction: Callable[[], AbstractContextManager[Connection]],
    actor: Principal,
    raw: bytes,
    *,
    max_bytes: int,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """Check the caller's permissions, parse ``raw`` (at most ``max_bytes``) and import
    it in ``transaction()``."""
    require_configure(actor, migrate=options.get("migrate", False))
    bundle = parse_bundle(raw, max_bytes=max_bytes)
    with transaction() as conn:
        return import_bundle(conn, actor, bundle, **options)


def import_bundle(
    conn: Connection,
    actor: Principal,
    bundle: Bundle,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """Import ``bundle`` in the caller's transaction and report item by item.

    Raises ValidationFailed listing every invalid item (by JSON path) and,
    unless ``force`` or ``dry_run``, Conflict when an item changed here would
    be overwritten; the caller's transaction must then be rolled back.
    With ``migrate`` the bundle's records keep their state and system-set
    fields (see ``labledger.bundles.migration``).
    """
    mode = _Mode(
        options.get("force", False), options.get("migrate", False), options.get("dry_run", False)
    )
    require_configure(actor, migrate=mode.migrate)
    report = _run(conn, actor, bundle, mode)
    if report.conflicts and not (mode.force or mode.dry_run):
        raise ImportConflict(report)
    return report


class ImportConflict(Conflict):
    """A refused import: items changed here would be overwritten. Carries the report."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            f"The bundle was not imported: {len(report.conflicts)} item(s) changed here would "
            "be overwritten. Review them (dry run) and import with force to overwrite them.",
            [FieldError(i.path, f"{i.kind} '{i.key}' {i.conflict}") for i in report.conflicts],
            extra={"report": report.as_dict()},
        )
        self.report = report


@dataclass(frozen=True)
class _Mode:
    """How an import runs: see ``import_bundle``, and ``_run`` for ``savepoints``."""

    force: bool
    migrate: bool
    dry_run: bool
    #: False: an item's problem stops the import (raised); True: collected.
    savepoints: bool = False


def _run(conn: Connection, actor: Principal, bundle: Bundle, mode: _Mode) -> ImportReport:
    """Import item by item; on the first invalid item, start again item by item in savepoints.

    A savepoint per item keeps the transaction usable on PostgreSQL after a
    failed statement, so that one import reports the problems of every item
    at once; but it costs two round trips per item. Nearly every bundle is
    valid, so the import first runs without them inside one savepoint (its
    audit events written together at the end), and only a bundle with a
    problem is rolled back to it and imported again with a savepoint per
    item, to collect every problem.
    """
    attempt = conn.begin_nested()
    try:
        with written_together(conn):
            report = _Import(conn, actor, bundle, mode).run()
    except ValidationFailed:
        attempt.rollback()
        return _Import(conn, actor, bundle, replace(mode, savepoints=True)).run()
    attempt.commit()
    return report


class _Import:
    """One run of an import: publishes the items, creates the records, writes the manifest."""

    def __init__(self, conn: Connection, actor: Principal, bundle: Bundle, mode: _Mode) -> None:
        self.conn = conn
        self.actor = actor
        self.bundle = bundle
        self.mode = mode
        self.errors: list[FieldError] = []
        self.changed = False
        self.publish = ItemPublisher(conn, actor, bundle, rehearsal=mode.dry_run)
        self.report = ImportReport(
            bundle.name, bundle.version, bundle.sha256, mode.dry_run, mode.force
        )
        #: Sources of items to remember (see ``_track``), written in one statement at the end,
        #: for items with a ``config_item`` row and for new roles, which have none yet.
        self.sources: list[dict[str, Any]] = []
        self.new_sources: list[dict[str, Any]] = []

    def run(self) -> ImportReport:
        versions.prefetch_states(
            self.conn,
            [(BUNDLE_KIND, self.bundle.name)]
            + [
                (SECTION_KIND[section], key)
                for section in KEYED_SECTIONS
                for key in self.publish.keys[section]
            ],
        )
        for section in KEYED_SECTIONS:
            for index, definition in enumerate(self.bundle.section(section)):
                self._item(section, index, definition)
        # Records need their types: after an invalid type their errors would only repeat it.
        refs = self._records() if not self.errors else {}
        if self.errors:
            raise invalid(self.errors)
        self._finish(refs)
        self.report.changed = self.changed
        return self.report

    def _attempt(
        self, path: str, action: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T | None:
        """Run one item's step; with savepoints, in one, collecting its problems (see ``_run``)."""
        if not self.mode.savepoints:
            return action(*args, **kwargs)
        savepoint = self.conn.begin_nested()
        try:
            result = action(*args, **kwargs)
        except ValidationFailed as exc:
            savepoint.rollback()
            problems = exc.errors or [FieldError(path, exc.detail)]
            self.errors += [
                e if e.field.startswith(path) else FieldError(f"{path}.{e.field}", e.message)
                for e in problems
            ]
            return None
        savepoint.commit()
        return result

    # --- roles, workflows, types, mappings, print templates and dashboards ---

    def _item(self, section: str, index: int, definition: Any) -> None:
        path = f"{section}[{index}]"
        key = definition.get("key") if isinstance(definition, dict) else None
        if not isinstance(key, str):
            self._attempt(path, self.publish, section, definition, path)  # reports what is wrong
            return
        stored = stored_item(self.conn, section, key)
        wanted = role_body(definition) if section == "roles" else definition
        # The services store definitions as given (roles as role_body gives them),
        # so after this item the stored definition hashes to wanted_hash.
        wanted_hash = content_hash(wanted)
        decision, reason = classify(stored.hash, wanted_hash, stored.source, self.bundle.name)
        item = ItemReport(
            SECTION_LABEL[section], key, path, "unchanged", stored.version, stored.version
        )
        if decision == "keep" and not self.mode.force:
            item.action = "kept"
        elif decision != "same":
            outcome = self._attempt(path, self.publish, section, definition, path)
            if outcome is None:
                return
            changed, item.version = outcome
            item.action = "changed" if changed else "unchanged"
            if stored.body is None:
                item.action = "added"
            item.conflict = reason
            item.forced = reason is not None and self.mode.force
        if item.action != "unchanged":
            item.changes = item_changes(self.conn, section, key, stored.body, wanted)
        self.changed = self.changed or item.action in ("added", "changed")
        # A kept item's source hash is the bundle's: the base of the next three-way check.
        self._track(SECTION_KIND[section], key, stored.source, wanted_hash)
        self.report.items.append(item)

    def _track(self, kind: str, key: str, found: Source | None, definition_hash: str) -> None:
        """Remember that the item is the bundle's (as of this version and hash)."""
        wanted = Source(self.bundle.name, self.bundle.version, definition_hash)
        if found == wanted:
            return
        values = {
            "source_bundle": wanted.bundle,
            "source_bundle_version": wanted.version,
            "source_hash": wanted.hash,
        }
        # Written together by _finish: no item reads another's source.
        if found is None and kind == ROLE_KIND:  # roles have no row until their first import
            self.new_sources.append({"kind": kind, "key": key, "current_version": 0, **values})
        else:
            self.sources.append({"item_kind": kind, "item_key": key, **values})
        self.changed = True

    # --- records ---

    def _records(self) -> dict[str, int]:
        """Create the records not created by an earlier import; returns ref -> id."""
        refs = created_records(self.conn, self.bundle.name)
        migrated: list[Migrated] = []
        for index, item in enumerate(self.bundle.records):
            ref = item.ref
            if ref in refs:
                self.report.records.append(RecordReport(ref, item.type, "existing", refs[ref]))
                continue
            path = f"records[{index}]"
            view = self._attempt(path, self._create_record, item, refs)
            if view is not None:
                refs[ref] = view["id"]
                migrated.append(Migrated(path, ref, view))
                dry = self.report.dry_run
                self.report.records.append(
                    RecordReport(
                        ref,
                        item.type,
                        "created",
                        None if dry else view["id"],
                        None if dry else view["number"],
                    )
                )
                self.changed = True
        if self.mode.migrate:
            self._reconcile(migrated)
        return refs

    def _reconcile(self, migrated: list[Migrated]) -> None:
        """Prove the migrated records are stored as written; any difference fails the import."""
        reconciliation = reconcile(self.conn, migrated)
        self.report.reconciliation = reconciliation
        self.errors += reconciliation.mismatches

    def _create_record(self, item: BundleRecordSpec, refs: dict[str, int]) -> dict[str, Any]:
        problems = record_problems(self.conn, item, refs, migrate=self.mode.migrate)
        if problems:
            raise ValidationFailed("The record is not valid.", problems)
        details: dict[str, Any] = {
            "bundle": self.bundle.name,
            "bundle_version": self.bundle.version,
        }
        if self.mode.migrate:
            details.update(migration_detail(self.bundle.sha256))
        return create_record(
            self.conn,
            self.actor,
            item.type,
            {field_key: with_ids(value, refs) for field_key, value in item.data.items()},
            state=None if isinstance(item.state, UnsetType) else item.state,
            audit_details={**details, "ref": item.ref},
            # Seed records are configuration: importing them needs 'configure'
            # (checked up front), not the type's day-to-day create permission.
            skip_permission=True,
            # A migration brings what the other system's workflow recorded.
            as_system=self.mode.migrate,
        )

    # --- the manifest and the one audit event of the import ---

    def _finish(self, refs: dict[str, int]) -> None:
        if self.new_sources:
            now = utc_now()
            self.conn.execute(
                insert(config_item), [{**row, "updated_at": now} for row in self.new_sources]
            )
        if self.sources:
            self.conn.execute(_TRACK_SOURCE, self.sources)
        if self.sources or self.new_sources:
            versions.forget_states(self.conn)
        body = self.bundle.body
        manifest = {
            "name": self.bundle.name,
            "version": self.bundle.version,
            "description": body.get("description", ""),
            **{
                section: [item["key"] for item in body.get(section, [])]
                for section in KEYED_SECTIONS
            },
            "records": refs,
        }
        stored = versions.store(
            self.conn, BUNDLE_KIND, self.bundle.name, manifest, self.actor.username
        )
        self.changed = self.changed or stored.changed
        if not self.changed:
            return
        imported = {
            "bundle": self.bundle.name,
            "version": self.bundle.version,
            "sha256": self.bundle.sha256,
        }
        append(
            self.conn,
            [
                AuditEntry(
                    actor=self.actor.username,
                    action=IMPORT_ACTION,
                    config_version=stored.version,
                    details={**imported, "force": self.mode.force, **self.report.summary()},
                    outbox_kind="config.imported",
                    outbox_payload=imported,
                    result_hash=config_result(
                        BUNDLE_KIND, self.bundle.name, stored.version, manifest
                    ),
                )
            ],
        )
