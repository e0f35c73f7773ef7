"""Import mappings in the browser: the list, one mapping read as a table, and the editor.

A mapping is a JSON document (``metadata/mapping.schema.json``), so the
editor is a text area: "Check" runs the mapping service's own checks and
lists every problem by its JSON path; "Publish" hands the document to
``publish_mapping``, which validates it again, stores it as a new immutable
version and audits it. A new mapping starts from a template built from its
target type's fields. Reading a mapping follows the service (configurers,
or whoever may read its target type); editing needs ``configure``. With change
control on, "Publish" saves the checked document into a change request
(``web.admin.proposing``) instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy import Connection

from labledger.bundles.format import load_json
from labledger.canonical import content_hash
from labledger.changes.service import ProposedItem
from labledger.changes.store import ChangeRequest
from labledger.db.engine import Database
from labledger.errors import NotFound, ValidationFailed
from labledger.identity.principal import CONFIGURE
from labledger.identity.sessions import WebSession
from labledger.integration.mappings import (
    BY_NUMBER,
    MAPPING_KIND,
    UNMAPPABLE,
    list_mappings,
    mapping_errors,
    mapping_history,
    publish_mapping,
    readable_mapping,
)
from labledger.metadata import versions
from labledger.metadata.spec.fields import (
    DecimalField,
    FieldSpec,
    InputFieldSpec,
    IntegerField,
    ReferenceField,
)
from labledger.metadata.types import list_types, type_model
from labledger.params import OptionalVersion
from labledger.web.admin.common import (
    Form,
    FormBody,
    Problems,
    form_page,
    fresh_key,
    require_permission,
)
from labledger.web.admin.proposing import (
    ChangeTarget,
    change_control_view,
    control_on,
    save_to_change,
    saved_message,
)
from labledger.web.integration.common import pretty_json
from labledger.web.pages import page

WHAT = "Editing import mappings"


def mapping_url(key: str, suffix: str = "") -> str:
    return f"/mappings/{quote(key, safe='')}{suffix}"


def starter_mapping(conn: Connection, type_key: str) -> dict[str, Any]:
    """A mapping to start from: one CSV column per field an import can set, named by
    the field's label; references looked up by record number, numbers in their unit."""
    model = type_model(conn, type_key)
    columns = []
    for key, fdef in model.field_specs.items():
        if not isinstance(fdef, InputFieldSpec) or fdef.kind in UNMAPPABLE:
            continue
        column: dict[str, Any] = {"source": fdef.label, "field": key}
        if not fdef.required:
            column["optional"] = True
        if isinstance(fdef, ReferenceField):
            column["lookup"] = {"by": BY_NUMBER}
        if isinstance(fdef, IntegerField | DecimalField) and fdef.unit:
            column["unit"] = {"expected": fdef.unit}
        columns.append(column)
    return {
        "key": fresh_key(f"{type_key}_import", versions.keys(conn, MAPPING_KIND)),
        "label": f"{model.label} import",
        "target": type_key,
        "format": "csv",
        "mode": "atomic",
        "columns": columns,
    }


def parse_definition(text: str) -> tuple[Any, Problems]:
    """The editor's text as JSON, or the problem (with line and column) that stops it."""
    try:
        return load_json(text.encode("utf-8")), Problems.none()
    except ValidationFailed as exc:
        return None, Problems(exc.errors)


def _outcome(conn: Connection, definition: dict[str, Any]) -> str:
    """What publishing a definition that has no problems would do."""
    found = versions.current(conn, MAPPING_KIND, definition["key"])
    if found is None:
        return f"No problems found. Publishing creates mapping {definition['key']}, version 1."
    if content_hash(found[1]) == content_hash(definition):
        return f"No problems found, and nothing changed: version {found[0]} is current."
    return f"No problems found. Publishing creates version {found[0] + 1}."


def _target_fields(conn: Connection, definition: Any) -> tuple[str, dict[str, FieldSpec]]:
    """The label and fields (by key) of the draft's target type, to write columns against."""
    target = definition.get("target") if isinstance(definition, dict) else None
    if not isinstance(target, str):
        return "", {}
    try:
        model = type_model(conn, target)
    except NotFound:
        return "", {}
    return model.label, model.field_specs


def _history(conn: Connection, session: WebSession, key: str) -> list[dict[str, Any]]:
    """Published versions, newest first, as the shared version-history table shows them."""
    return [
        {**row, "json": pretty_json(row["definition"])}
        for row in reversed(mapping_history(conn, session.principal, key))
    ]


def _propose(
    db: Database, session: WebSession, target: ChangeTarget, definition: Any
) -> tuple[Problems, ChangeRequest | None]:
    """Save a mapping into a change request, once it passes the mapping's own checks."""
    with db.read() as conn:
        problems = Problems(mapping_errors(conn, definition))
    if problems:
        return problems, None
    item = ProposedItem(MAPPING_KIND, definition["key"], definition)
    try:
        return Problems.none(), save_to_change(db, session.principal, target, item)
    except ValidationFailed as exc:
        return Problems(exc.errors), None


class MappingPagesController(Controller):
    path = "/mappings"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            mappings = list_mappings(conn, session.principal)
            types = {t["key"]: t for t in list_types(conn, session.principal)}
        return page("integration/mappings.html", session, mappings=mappings, types=types)

    @get("/new", sync_to_thread=True)
    def new(self, session: WebSession, db: Database, target: str = "") -> Template:
        """The editor with a starter mapping for ``target`` (the first type by default)."""
        require_permission(session.principal, CONFIGURE, WHAT)
        with db.read() as conn:
            keys = [t["key"] for t in list_types(conn, session.principal)]
            chosen = target if target in keys else (keys[0] if keys else "")
            starter = starter_mapping(conn, chosen) if chosen else {"columns": []}
        return self._editor(session, db, pretty_json(starter), "")

    @post("/new", sync_to_thread=True, status_code=200)
    def save_new(self, data: FormBody, session: WebSession, db: Database) -> Response[Any]:
        require_permission(session.principal, CONFIGURE, WHAT)
        return self._submit(session, db, Form(data), "")

    @get("/{key:str}", sync_to_thread=True)
    def view(
        self,
        key: str,
        session: WebSession,
        db: Database,
        version: OptionalVersion = None,
        published: OptionalVersion = None,
    ) -> Template:
        with db.read() as conn:
            mapping = readable_mapping(conn, session.principal, key, version)
            history = _history(conn, session, key)
            target, fields = _target_fields(conn, mapping.definition)
        return page(
            "integration/mapping.html",
            session,
            mapping=mapping,
            current=history[0]["version"],
            history=history,
            target_label=target,
            fields=fields,
            message=f"Version {published} was published." if published else None,
        )

    @get("/{key:str}/edit", sync_to_thread=True)
    def edit(self, key: str, session: WebSession, db: Database) -> Template:
        require_permission(session.principal, CONFIGURE, WHAT)
        with db.read() as conn:
            mapping = readable_mapping(conn, session.principal, key)
        return self._editor(session, db, pretty_json(mapping.definition), key)

    @post("/{key:str}/edit", sync_to_thread=True, status_code=200)
    def save(self, key: str, data: FormBody, session: WebSession, db: Database) -> Response[Any]:
        require_permission(session.principal, CONFIGURE, WHAT)
        return self._submit(session, db, Form(data), key)

    def _submit(
        self, session: WebSession, db: Database, form: Form, original: str
    ) -> Response[Any]:
        """Check the text, or publish it (a published change goes to the mapping's page);
        with change control on, Publish saves it into a change request instead."""
        text = form.raw("definition")
        definition, problems = parse_definition(text)
        message = None
        target = ChangeTarget.of(form)
        saved = None
        if problems:
            pass
        elif form.text("op") != "publish":
            with db.read() as conn:
                problems = Problems(mapping_errors(conn, definition))
                if not problems:
                    message = _outcome(conn, definition)
        elif control_on(db):
            problems, saved = _propose(db, session, target, definition)
            message = saved_message(saved) if saved else None
        else:
            try:
                with db.write() as conn:
                    published = publish_mapping(conn, session.principal, definition)
            except ValidationFailed as exc:
                problems = Problems(exc.errors)
            else:
                if published.changed:
                    return Redirect(
                        mapping_url(definition["key"]) + f"?published={published.version}",
                        status_code=303,
                    )
                message = f"Nothing changed: version {published.version} is current."
        return self._editor(
            session,
            db,
            text,
            original,
            status_code=422 if problems else 200,
            problems=problems,
            message=message,
            target=target,
            saved=saved,
        )

    def _editor(
        self,
        session: WebSession,
        db: Database,
        text: str,
        original: str,
        *,
        status_code: int = 200,
        target: ChangeTarget | None = None,
        saved: ChangeRequest | None = None,
        **context: Any,
    ) -> Template:
        definition, _ = parse_definition(text)
        with db.read() as conn:
            types = list_types(conn, session.principal)
            history = _history(conn, session, original) if original else []
            target_label, fields = _target_fields(conn, definition)
            change_control = change_control_view(conn, session.principal, target, saved)
        return form_page(
            "integration/mapping_editor.html",
            session,
            status_code,
            context,
            text=text,
            original=original,
            action=mapping_url(original, "/edit") if original else "/mappings/new",
            types=types,
            history=history,
            target=definition.get("target") if isinstance(definition, dict) else None,
            target_label=target_label,
            fields=fields,
            unmappable=UNMAPPABLE,
            change_control=change_control,
        )
