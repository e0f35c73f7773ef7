"""Previewing and applying a bundle: all of it, or nothing.

An import runs in one transaction: roles, then workflows, then object types,
then import mappings and print templates (each names a type), then records,
each through the service that publishes it on its own (so a bundle is
validated exactly like an admin's edit, and each published item is audited
like one), then one ``config.import`` audit event with the bundle's SHA-256
and a summary. A dry run is the same import in a transaction that is
rolled back: it checks everything the import would (record data, new unique
indexes over existing records) and reports exactly what the import would do;
it skips only the database objects that cannot fail (list indexes, report
views).

Each item remembers where it came from (``config_item.source_*``): bundle name,
version and the hash of the definition as imported. On a later import the
three versions of an item -- as imported before, as it is now, as the bundle
has it -- decide what happens, as in a three-way merge:

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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from labledger.audit.results import config_result
from labledger.audit.trail import AuditEntry, append, written_together
from labledger.bundles.format import (
    KEYED_SECTIONS,
    Bundle,
    invalid,
    is_record_ref,
    parse_bundle,
    record_refs,
)
from labledger.bundles.migration import Migrated, migration_detail, reconcile
from labledger.bundles.report import SINGULAR, Change, ImportReport, ItemReport, RecordReport
from labledger.canonical import content_hash
from labledger.db.engine import Database
from labledger.db.jsonfields import field_column
from labledger.db.tables import config_item, record, role
from labledger.db.types import utc_now
from labledger.errors import Conflict, FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import CONFIGURE, MIGRATE_RECORDS, Principal
from labledger.identity.roles import save_role
from labledger.integration.mappings import MAPPING_KIND, publish_mapping
from labledger.metadata import versions
from labledger.metadata.diff import KEYED_LISTS, diff_definitions
from labledger.metadata.fieldtypes import TEXT
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import (
    definition_context,
    past_field_types,
    publish_type,
    type_model,
)
from labledger.metadata.validation import DefinitionContext
from labledger.printing.templates import KIND as PRINT_TEMPLATE_KIND
from labledger.printing.templates import publish_print_template
from labledger.records.service import create_record
from labledger.settings import Settings
from labledger.workflows.definitions import WORKFLOW_KIND, publish_workflow

ROLE_KIND = "role"
#: The manifest of an imported bundle: its items and the records it created.
BUNDLE_KIND = "bundle"
#: The audit action of an imported bundle (its manifest is a configuration version).
IMPORT_ACTION = "config.import"
SECTION_KIND = {
    "roles": ROLE_KIND,
    "workflows": WORKFLOW_KIND,
    "types": TYPE_KIND,
    "mappings": MAPPING_KIND,
    "print_templates": PRINT_TEMPLATE_KIND,
}
SECTION_LABEL = {
    "roles": "role",
    "workflows": "workflow",
    "types": "type",
    "mappings": "mapping",
    "print_templates": "print template",
}


#: Remembers an item's source: executed with one parameter set per item.
_TRACK_SOURCE = update(config_item).where(
    config_item.c.kind == bindparam("item_kind"), config_item.c.key == bindparam("item_key")
)


def require_configure(actor: Principal, *, migrate: bool = False) -> None:
    """Importing needs 'configure'; a migration of records also 'migrate_records'."""
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Importing and exporting bundles needs the 'configure' permission.")
    if migrate and not actor.has_permission(MIGRATE_RECORDS):
        raise Forbidden(
            "Migrating records with their state needs the 'migrate_records' permission."
        )


def preview_bundle(
    db: Database,
    actor: Principal,
    raw: bytes,
    *,
    force: bool = False,
    migrate: bool = False,
    max_bytes: int | None = None,
) -> ImportReport:
    """What importing ``raw`` would do; the database is left exactly as it was."""
    require_configure(actor, migrate=migrate)
    bundle = parse_bundle(raw, max_bytes=max_bytes)
    with _rolled_back(db) as conn:
        return import_bundle(conn, actor, bundle, force=force, migrate=migrate, dry_run=True)


def apply_bundle(
    db: Database,
    actor: Principal,
    raw: bytes,
    *,
    force: bool = False,
    migrate: bool = False,
    max_bytes: int | None = None,
) -> ImportReport:
    """Import ``raw`` in one transaction; refused as a whole on any problem or conflict."""
    require_configure(actor, migrate=migrate)
    bundle = parse_bundle(raw, max_bytes=max_bytes)
    with db.write() as conn:
        return import_bundle(conn, actor, bundle, force=force, migrate=migrate)


@contextmanager
def _rolled_back(db: Database) -> Iterator[Connection]:
    """A write transaction (the same locks as an import) that never commits."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(write=True)
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def import_bundle(
    conn: Connection,
    actor: Principal,
    bundle: Bundle,
    *,
    force: bool = False,
    migrate: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Import ``bundle`` in the caller's transaction and report item by item.

    Raises ValidationFailed listing every invalid item (by JSON path) and,
    unless ``force`` or ``dry_run``, Conflict when an item changed here would
    be overwritten; the caller's transaction must then be rolled back.
    With ``migrate`` the bundle's records keep their state and system-set
    fields (see ``labledger.bundles.migration``).
    """
    require_configure(actor, migrate=migrate)
    report = _run(conn, actor, bundle, force=force, migrate=migrate, dry_run=dry_run)
    if report.conflicts and not (force or dry_run):
        raise ImportConflict(report)
    return report


def _run(
    conn: Connection, actor: Principal, bundle: Bundle, *, force: bool, migrate: bool, dry_run: bool
) -> ImportReport:
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
            report = _Import(
                conn, actor, bundle, force=force, migrate=migrate, dry_run=dry_run
            ).run()
    except ValidationFailed:
        attempt.rollback()
        return _Import(
            conn, actor, bundle, force=force, migrate=migrate, dry_run=dry_run, savepoints=True
        ).run()
    attempt.commit()
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
class _Source:
    bundle: str | None
    version: str | None
    hash: str | None


def _role_body(definition: dict[str, Any]) -> dict[str, Any]:
    """A role as the role service stores it (label trimmed, permissions sorted)."""
    return {
        "key": definition["key"],
        "label": definition["label"].strip(),
        "description": definition.get("description", ""),
        "permissions": sorted(set(definition.get("permissions", []))),
    }


def _classify(
    current_hash: str | None, wanted_hash: str, source: _Source | None, bundle: str
) -> tuple[str, str | None]:
    """("apply" | "same" | "keep", why applying would overwrite a local change)."""
    if current_hash is None:
        return "apply", None
    if current_hash == wanted_hash:
        return "same", None
    if source is None or source.bundle is None:
        return "apply", "exists here and was not imported from a bundle"
    if source.bundle != bundle:
        return "apply", f"was imported from bundle {source.bundle} {source.version}"
    if source.hash == current_hash:
        return "apply", None
    changed_here = f"was changed here since it was imported from {bundle} {source.version}"
    return ("keep" if source.hash == wanted_hash else "apply"), changed_here


def _records(count: int, singular: str, plural: str) -> str:
    """``_records(1204, "keeps", "keep")`` -> "1,204 records keep"."""
    return f"{count:,} record {singular}" if count == 1 else f"{count:,} records {plural}"


class _Import:
    def __init__(
        self,
        conn: Connection,
        actor: Principal,
        bundle: Bundle,
        *,
        force: bool,
        migrate: bool,
        dry_run: bool,
        savepoints: bool = False,
    ) -> None:
        self.conn = conn
        self.actor = actor
        self.bundle = bundle
        self.force = force
        self.migrate = migrate
        #: False: an item's problem stops the import (raised); True: collected, see ``_run``.
        self.savepoints = savepoints
        self.errors: list[FieldError] = []
        self.changed = False
        self.keys = {
            section: {
                item["key"]
                for item in bundle.section(section)
                if isinstance(item, dict) and isinstance(item.get("key"), str)
            }
            for section in KEYED_SECTIONS
        }
        self.report = ImportReport(bundle.name, bundle.version, bundle.sha256, dry_run, force)
        #: The types stored before the import: only they have earlier versions to check against.
        self.types_here = set(versions.keys(conn, TYPE_KIND))
        #: Sources of items to remember (see ``_track``), written in one statement at the end,
        #: for items with a ``config_item`` row and for new roles, which have none yet.
        self.sources: list[dict[str, Any]] = []
        self.new_sources: list[dict[str, Any]] = []
        self.publishers: dict[str, Callable[[Any, str], tuple[bool, int | None]]] = {
            "roles": self._publish_role,
            "workflows": self._publish_workflow,
            "types": self._publish_type,
            "mappings": self._publish_mapping,
            "print_templates": self._publish_print_template,
        }

    def run(self) -> ImportReport:
        versions.prefetch_states(
            self.conn,
            [(BUNDLE_KIND, self.bundle.name)]
            + [
                (SECTION_KIND[section], key)
                for section in KEYED_SECTIONS
                for key in self.keys[section]
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

    def _attempt(self, path: str, action: Callable[..., Any], *args: Any) -> Any:
        """Run one item's step; with savepoints, in one, collecting its problems (see ``_run``)."""
        if not self.savepoints:
            return action(*args)
        savepoint = self.conn.begin_nested()
        try:
            result = action(*args)
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

    # --- roles, workflows, types, mappings and print templates ---

    def _stored(
        self, section: str, key: str
    ) -> tuple[int | None, dict[str, Any] | None, str | None, _Source | None]:
        """(version, definition, its hash, source) of the item as stored here."""
        state = versions.item_state(self.conn, SECTION_KIND[section], key)
        source = (
            None
            if state is None
            else _Source(state.source_bundle, state.source_bundle_version, state.source_hash)
        )
        if section == "roles":
            row = self.conn.execute(select(role).where(role.c.key == key)).mappings().first()
            body = None if row is None else _role_body(dict(row))
            return None, body, None if body is None else content_hash(body), source
        if state is None or state.body is None:
            return None, None, None, source
        return state.version, state.body, state.body_hash, source

    def _publish_role(self, definition: dict[str, Any], _path: str) -> tuple[bool, int | None]:
        return save_role(self.conn, self.actor, definition), None

    def _publish_workflow(self, definition: Any, path: str) -> tuple[bool, int | None]:
        batch_types = {
            item["key"]: item
            for item in self.bundle.section("types")
            if isinstance(item, dict) and isinstance(item.get("key"), str)
        }
        published = publish_workflow(
            self.conn,
            self.actor,
            definition,
            path_prefix=path,
            extra_roles=self.keys["roles"],
            batch_types=batch_types,
        )
        return published.changed, published.version

    @cached_property
    def _names(self) -> DefinitionContext:
        """The types, workflows and roles a type may name: the database's and the bundle's.

        Asked once: what the import publishes meanwhile is the bundle's own.
        """
        return definition_context(
            self.conn,
            "",
            extra_types=self.keys["types"],
            extra_workflows=self.keys["workflows"],
            extra_roles=self.keys["roles"],
        )

    def _publish_type(self, definition: Any, path: str) -> tuple[bool, int | None]:
        key = definition.get("key") if isinstance(definition, dict) else None
        existed = isinstance(key, str) and key in self.types_here
        past = past_field_types(self.conn, key) if existed else {}
        context = replace(self._names, past_field_types=past)
        published = publish_type(
            self.conn,
            self.actor,
            definition,
            context=context,
            path_prefix=path,
            rehearsal=self.report.dry_run,
        )
        return published.changed, published.version

    def _publish_mapping(self, definition: Any, path: str) -> tuple[bool, int | None]:
        published = publish_mapping(self.conn, self.actor, definition, path_prefix=path)
        return published.changed, published.version

    def _publish_print_template(self, definition: Any, path: str) -> tuple[bool, int | None]:
        published = publish_print_template(self.conn, self.actor, definition, path_prefix=path)
        return published.changed, published.version

    def _item(self, section: str, index: int, definition: Any) -> None:
        path = f"{section}[{index}]"
        publish = self.publishers[section]
        key = definition.get("key") if isinstance(definition, dict) else None
        if not isinstance(key, str):
            self._attempt(path, publish, definition, path)  # reports what is wrong with it
            return
        kind = SECTION_KIND[section]
        old_version, old_body, current_hash, source = self._stored(section, key)
        wanted = _role_body(definition) if section == "roles" else definition
        # The services store definitions as given (roles as _role_body gives them),
        # so after this item the stored definition hashes to wanted_hash.
        wanted_hash = content_hash(wanted)
        decision, reason = _classify(current_hash, wanted_hash, source, self.bundle.name)
        item = ItemReport(SECTION_LABEL[section], key, path, "unchanged", old_version, old_version)
        if decision == "keep" and not self.force:
            item.action = "kept"
        elif decision != "same":
            outcome = self._attempt(path, publish, definition, path)
            if outcome is None:
                return
            changed, item.version = outcome
            item.action = "changed" if changed else "unchanged"
            if old_body is None:
                item.action = "added"
            item.conflict = reason
            item.forced = reason is not None and self.force
        if item.action != "unchanged":
            item.changes = self._changes(section, key, old_body, wanted)
        self.changed = self.changed or item.action in ("added", "changed")
        # A kept item's source hash is the bundle's: the base of the next three-way check.
        self._track(kind, key, source, wanted_hash)
        self.report.items.append(item)

    def _track(self, kind: str, key: str, found: _Source | None, definition_hash: str) -> None:
        """Remember that the item is the bundle's (as of this version and hash)."""
        wanted = _Source(self.bundle.name, self.bundle.version, definition_hash)
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

    # --- the preview: differences and what they mean for existing records ---

    def _changes(
        self, section: str, key: str, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> list[Change]:
        if old is None:
            return [
                Change("added", f"{collection}.{entry[KEYED_LISTS[collection]]}")
                for collection in SINGULAR
                for entry in new.get(collection, [])
            ]
        diff = diff_definitions(old, new)
        changes = [
            Change(verb, f"{collection}.{item_key}")
            for verb in ("added", "removed")
            for collection, item_keys in diff.get(verb, {}).items()
            for item_key in item_keys
        ]
        changes += [
            Change("changed", path, values["old"], values["new"])
            for path, values in diff.get("changed", {}).items()
        ]
        for change in changes:
            self._effect(section, key, old, new, change)
        return changes

    def _effect(
        self,
        section: str,
        key: str,
        old: dict[str, Any],
        new: dict[str, Any],
        change: Change,
    ) -> None:
        collection, _, item_key = change.path.partition(".")
        if section == "types" and collection == "fields" and change.change == "removed":
            change.records = self._count([key], field_key=item_key)
            change.effect = (
                _records(change.records, "keeps its value", "keep their values") + ", hidden"
                if change.records
                else "no record holds a value for it"
            )
        elif section == "types" and collection == "fields" and change.change == "added":
            fdef = next(f for f in new["fields"] if f["key"] == item_key)
            if fdef.get("required") and fdef["type"] != "computed":
                missing = self._count([key]) - self._count([key], field_key=item_key)
                if missing:
                    change.records = missing
                    change.effect = (
                        _records(missing, "has", "have") + " no value and will need one "
                        "at the next edit"
                    )
        elif section == "workflows" and collection == "states" and change.change == "removed":
            users = [
                type_key
                for type_key in versions.keys(self.conn, TYPE_KIND)
                if type_model(self.conn, type_key).workflow == key
            ]
            change.records = self._count(users, state=item_key) if users else 0
            if change.records:
                change.effect = _records(change.records, "is", "are") + " in it"

    def _count(
        self, type_keys: list[str], *, field_key: str | None = None, state: str | None = None
    ) -> int:
        query = select(func.count()).select_from(record).where(record.c.type_key.in_(type_keys))
        if field_key is not None:
            query = query.where(field_column(self.conn.dialect.name, field_key, TEXT).is_not(None))
        if state is not None:
            query = query.where(record.c.state == state)
        return self.conn.execute(query).scalar_one()

    # --- records ---

    def _records(self) -> dict[str, int]:
        """Create the records not created by an earlier import; returns ref -> id."""
        manifest = versions.current(self.conn, BUNDLE_KIND, self.bundle.name)
        known: dict[str, int] = dict(manifest[1].get("records", {})) if manifest else {}
        ids = select(record.c.id).where(record.c.id.in_(known.values()))
        existing = set(self.conn.execute(ids).scalars()) if known else set()
        refs = {ref: rid for ref, rid in known.items() if rid in existing}
        migrated: list[Migrated] = []
        for index, item in enumerate(self.bundle.section("records")):
            ref = item["ref"]
            if ref in refs:
                self.report.records.append(RecordReport(ref, item["type"], "existing", refs[ref]))
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
                        item["type"],
                        "created",
                        None if dry else view["id"],
                        None if dry else view["number"],
                    )
                )
                self.changed = True
        if self.migrate:
            self._reconcile(migrated)
        return refs

    def _reconcile(self, migrated: list[Migrated]) -> None:
        """Prove the migrated records are stored as written; any difference fails the import."""
        reconciliation = reconcile(self.conn, migrated)
        self.report.reconciliation = reconciliation
        self.errors += reconciliation.mismatches

    def _create_record(self, item: dict[str, Any], refs: dict[str, int]) -> dict[str, Any]:
        problems = []
        data = {}
        for field_key, value in item["data"].items():
            missing = [
                (path, ref)
                for path, ref in record_refs(f"data.{field_key}", value)
                if ref not in refs
            ]
            problems += [FieldError(p, f"record '{ref}' was not imported") for p, ref in missing]
            data[field_key] = _with_ids(value, refs)
        if versions.current_version(self.conn, TYPE_KIND, item["type"]) is None:
            problems.append(FieldError("type", f"there is no object type '{item['type']}'"))
        elif "state" in item:
            problems += self._state_problems(item["type"], item["state"])
        if problems:
            raise ValidationFailed("The record is not valid.", problems)
        details = {"bundle": self.bundle.name, "bundle_version": self.bundle.version}
        if self.migrate:
            details.update(migration_detail(self.bundle.sha256))
        return create_record(
            self.conn,
            self.actor,
            item["type"],
            data,
            # Bundles carry no files: an attachment field can only name a missing one.
            attachment_limit=Settings.attachment_max_bytes,
            state=item.get("state"),
            audit_details={**details, "ref": item["ref"]},
            # Seed records are configuration: importing them needs 'configure'
            # (checked up front), not the type's day-to-day create permission.
            skip_permission=True,
            # A migration brings what the other system's workflow recorded.
            as_system=self.migrate,
        )

    def _state_problems(self, type_key: str, state: str) -> list[FieldError]:
        """A record enters its workflow's initial state; only a migration brings another."""
        workflow = type_model(self.conn, type_key).workflow
        if not workflow:
            return [FieldError("state", f"type '{type_key}' has no workflow, so no states")]
        found = versions.current(self.conn, WORKFLOW_KIND, workflow)
        states = [s["key"] for s in found[1]["states"]] if found else []
        if state not in states:
            return [
                FieldError(
                    "state",
                    f"'{state}' is not a state of workflow '{workflow}' ({', '.join(states)})",
                )
            ]
        initial = next((s["key"] for s in found[1]["states"] if s.get("initial")), None)
        if self.migrate or state == initial:
            return []
        return [
            FieldError(
                "state",
                f"a bundle's records enter their workflow's initial state '{initial}'; "
                f"bringing one in state '{state}' is a migration of history "
                "(config import --migrate, with the 'migrate_records' permission)",
            )
        ]

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
        append(
            self.conn,
            [
                AuditEntry(
                    actor=self.actor.username,
                    action=IMPORT_ACTION,
                    config_version=stored.version,
                    details={
                        "bundle": self.bundle.name,
                        "version": self.bundle.version,
                        "sha256": self.bundle.sha256,
                        "force": self.force,
                        **self.report.summary(),
                    },
                    outbox_kind="config.imported",
                    outbox_payload={
                        "bundle": self.bundle.name,
                        "version": self.bundle.version,
                        "sha256": self.bundle.sha256,
                    },
                    result_hash=config_result(
                        BUNDLE_KIND, self.bundle.name, stored.version, manifest
                    ),
                )
            ],
        )


def _with_ids(value: Any, refs: dict[str, int]) -> Any:
    """A field value with its bundle record refs (alone or in a list) replaced by ids."""
    if is_record_ref(value):
        return refs.get(value["ref"])
    if isinstance(value, list):
        return [refs.get(v["ref"]) if is_record_ref(v) else v for v in value]
    return value
