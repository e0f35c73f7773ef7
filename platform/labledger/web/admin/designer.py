"""What the two designers (object types, workflows) share: the draft carried in the
page, the list buttons, publishing (or, under change control, saving into a change
request), the history, and the handlers' flow.

A designer keeps the definition being edited as a JSON document in the page (a
draft may be incomplete or wrong while the admin works on it, so it is no
typed struct until it is published). Each designer says what sets it apart in
a :class:`Designer`; the pages of both run through the functions here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from litestar import Controller, Request, get, post
from litestar.response import Template
from sqlalchemy import Connection

from labledger.change_gate import ChangeControlled
from labledger.changes.service import ProposedItem
from labledger.changes.store import ChangeRequest
from labledger.db.engine import Database
from labledger.errors import ValidationFailed
from labledger.identity.principal import CONFIGURE, Principal
from labledger.identity.sessions import WebSession
from labledger.metadata import versions
from labledger.metadata.versions import Published
from labledger.web.admin.common import (
    Form,
    FormBody,
    Problems,
    fresh_key,
    pages_needing,
    render,
    slug,
)
from labledger.web.admin.proposing import (
    ChangeTarget,
    change_control_view,
    control_on,
    problems_of,
    save_to_change,
    saved_message,
)
from labledger.web.pages import page


@dataclass(frozen=True)
class FieldChoice:
    """A field a designer offers to pick (a rule's fields, a state's required fields...)."""

    key: str
    label: str
    #: The field's type (``reference``...): some pickers offer only one kind.
    kind: str
    #: The types that lack the field, by label, where several types share the choice:
    #: picking it would be refused for them.
    missing_in: tuple[str, ...] = ()


def swap(items: list[Any], index: int, offset: int) -> int:
    """Move ``items[index]`` up (-1) or down (+1); returns its new index."""
    other = index + offset
    if 0 <= index < len(items) and 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]
        return other
    return index


def list_op(
    items: list[Any], name: str, index: int, selected: int | None
) -> tuple[bool, int | None]:
    """The buttons every list of a designer has (``select``, ``up``, ``down``,
    ``remove`` the item at ``index``): whether ``name`` is one of them, and
    which item is open afterwards."""
    if name == "select":
        return True, index if index < len(items) else selected
    if name in ("up", "down"):
        moved = swap(items, index, -1 if name == "up" else 1)
        return True, moved if selected == index else (index if selected == moved else selected)
    if name == "remove":
        if index >= len(items):
            return True, selected
        del items[index]
        if selected is None or selected == index:
            return True, None
        return True, selected - 1 if selected > index else selected
    return False, selected


def open_item(count: int, selected: int | None, problems: Problems, path: str) -> int | None:
    """The item of the list at ``path`` the editor opens: the selected one (when it
    still exists), else the first the problems point at."""
    if selected is None and problems:
        selected = next((i for i in range(count) if problems.under(f"{path}[{i}]")), None)
    return selected if selected is not None and selected < count else None


def key_for(label: str, fallback: str, items: list[dict[str, Any]]) -> str:
    """A key made from ``label`` that none of ``items`` holds yet."""
    return fresh_key(slug(label, fallback), {item.get("key") for item in items})


def as_list(value: Any) -> list[Any]:
    """A list of the draft, or none where a damaged draft holds something else there:
    the page still draws, and the problems say what is wrong."""
    return value if isinstance(value, list) else []


def draft_views(draft: dict[str, Any]) -> dict[str, Any]:
    """The draft as the designer page carries it: the document, the hidden input's
    compact JSON and the JSON shown to the admin (and ``as_list`` to read its lists)."""
    return {
        "as_list": as_list,
        "draft": draft,
        "draft_json": json.dumps(draft, ensure_ascii=False, sort_keys=True),
        "draft_pretty": json.dumps(draft, ensure_ascii=False, sort_keys=True, indent=2),
    }


def version_history(
    conn: Connection,
    kind: str,
    key: str,
    counts: Callable[[dict[str, Any]], dict[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """The published versions of ``key``, newest first, each with its JSON (and
    what ``counts`` says of its body, such as how many fields it has)."""
    if not key:
        return []
    return [
        {
            "version": row["version"],
            "published_at": row["published_at"],
            "published_by": row["published_by"],
            **(counts(row["body"]) if counts else {}),
            "json": json.dumps(row["body"], ensure_ascii=False, sort_keys=True, indent=2),
        }
        for row in reversed(versions.all_versions(conn, kind, key))
    ]


def publish_draft(
    db: Database,
    publish: Callable[[Connection, Principal, dict[str, Any]], Published],
    principal: Principal,
    draft: dict[str, Any],
) -> tuple[Problems, str | None]:
    """Publish a designer's draft through its service.

    Returns the problems to show beside the offending parts, or the message
    saying which version is now current (exactly one of the two is set).
    """
    try:
        with db.write() as conn:
            published = publish(conn, principal, draft)
    except ValidationFailed as exc:
        return Problems(exc.errors), None
    except ChangeControlled as exc:  # switched on since the page was drawn
        return problems_of(exc), None
    if published.changed:
        return Problems.none(), f"Published version {published.version}."
    return Problems.none(), f"Nothing changed: version {published.version} is current."


@dataclass
class DesignerStep:
    """One button pressed in a designer (type or workflow): the draft merged with
    the form, and, when the button was Publish, what publishing (or, under change
    control, saving into a change request) said."""

    form: Form
    draft: dict[str, Any]
    original: str
    selected: int | None
    op: str
    problems: Problems
    message: str | None
    target: ChangeTarget
    #: The change request the draft was saved into (change control on).
    saved: ChangeRequest | None = None

    @property
    def publishing(self) -> bool:
        return self.op == "publish"

    @property
    def published(self) -> bool:
        """A new version is in force: the page's address becomes the item's."""
        return self.message is not None and self.saved is None


def _designer_step(
    data: dict[str, Any], design: Designer, db: Database, principal: Principal
) -> DesignerStep:
    """Merge the posted form into the draft and, for Publish, publish it -- or, with
    change control on, save it into a change request; the designer then applies any
    other button itself."""
    form = Form(data)
    draft = design.merge(form.json("draft"), form)
    step = DesignerStep(
        form,
        draft,
        form.text("original"),
        form.index("editing"),
        form.text("op"),
        Problems.none(),
        None,
        ChangeTarget.of(form),
    )
    if not step.publishing:
        return step
    if control_on(db):
        item = ProposedItem(design.kind, str(draft.get("key") or ""), draft)
        try:
            step.saved = save_to_change(db, principal, step.target, item)
        except ValidationFailed as exc:
            step.problems = Problems(exc.errors)
        else:
            step.message = saved_message(step.saved)
        return step
    step.problems, step.message = publish_draft(db, design.publish, principal, draft)
    if step.message is not None:
        step.original = draft["key"]
    return step


def _designer_response(
    request: Request[Any, Any, Any],
    session: WebSession,
    step: DesignerStep,
    templates: tuple[str, str],
    url_prefix: str,
    context: dict[str, Any],
) -> Template:
    """The designer re-rendered (422 with the problems); after a publish the
    browser's address becomes the published item's page."""
    response = render(
        request, session, *templates, status_code=422 if step.problems else 200, **context
    )
    if step.published:
        response.headers["HX-Push-Url"] = f"{url_prefix}/{step.original}"
    return response


#: Builds the page's context: (conn, session, draft, original key, open item, problems, message).
ContextBuilder = Callable[
    [Connection, WebSession, dict[str, Any], str, int | None, Problems, str | None],
    dict[str, Any],
]


@dataclass(frozen=True)
class Designer:
    """What sets one designer apart; the flow of its pages is shared."""

    #: ``type`` or ``workflow``: names the templates (``admin/type_designer.html``...).
    name: str
    #: The configuration kind it edits, as a change request names it.
    kind: str
    #: What the admin is doing, for the message when the permission is missing.
    what: str
    #: A draft to start a new definition from.
    new_draft: Callable[[], dict[str, Any]]
    #: A copy of the published definition of a key, to edit.
    published: Callable[[Connection, str], dict[str, Any]]
    #: The posted form merged into the draft it carries.
    merge: Callable[[Any, Form], dict[str, Any]]
    publish: Callable[[Connection, Principal, dict[str, Any]], Published]
    #: Applies a button other than Publish; returns the item then open.
    apply: Callable[[Connection, dict[str, Any], str, Form, int | None], int | None]
    context: ContextBuilder

    def template(self, part: str = "") -> str:
        """The whole page, or ``_designer`` / ``_preview``: the fragments htmx swaps."""
        return f"admin/_{self.name}{part}.html" if part else f"admin/{self.name}_designer.html"


class DesignerController(Controller):
    """The pages of a designer; a subclass sets ``path`` and ``design`` and adds its list.

    Every page of a designer, its list included, needs 'configure': the subclass's
    ``session`` dependency refuses anyone else before a handler runs.
    """

    include_in_schema = False
    design: ClassVar[Designer]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.dependencies = pages_needing(CONFIGURE, cls.design.what)

    @get("/new", sync_to_thread=True)
    def new(self, session: WebSession, db: Database) -> Template:
        return self._open(session, db, lambda _: self.design.new_draft(), "")

    @get("/{key:str}", sync_to_thread=True)
    def edit(self, key: str, session: WebSession, db: Database) -> Template:
        return self._open(session, db, lambda conn: self.design.published(conn, key), key)

    @post("/designer", sync_to_thread=True, status_code=200)
    def designer(
        self, request: Request[Any, Any, Any], data: FormBody, session: WebSession, db: Database
    ) -> Template:
        """A button of the designer: change the draft, or publish it."""
        design = self.design
        step = _designer_step(data, design, db, session.principal)
        selected = step.selected
        with db.read() as conn:
            if not step.publishing:
                selected = design.apply(conn, step.draft, step.op, step.form, selected)
            context = design.context(
                conn, session, step.draft, step.original, selected, step.problems, step.message
            )
            context["change_control"] = change_control_view(
                conn, session.principal, step.target, step.saved
            )
        return _designer_response(
            request,
            session,
            step,
            (design.template(), design.template("_designer")),
            self.path,
            context,
        )

    @post("/preview", sync_to_thread=True, status_code=200)
    def preview(self, data: FormBody, session: WebSession, db: Database) -> Template:
        """The parts of the page that follow the draft (the form as it would look, the
        diagram, the problems), redrawn as the admin edits."""
        design = self.design
        form = Form(data)
        draft = design.merge(form.json("draft"), form)
        original, selected = form.text("original"), form.index("editing")
        with db.read() as conn:
            context = design.context(
                conn, session, draft, original, selected, Problems.none(), None
            )
            context["change_control"] = change_control_view(
                conn, session.principal, ChangeTarget.of(form)
            )
        return page(design.template("_preview"), session, oob=True, **context)

    def _open(
        self,
        session: WebSession,
        db: Database,
        draft_of: Callable[[Connection], dict[str, Any]],
        original: str,
    ) -> Template:
        """The designer on a draft: a new one, or a copy of the published ``original``."""
        with db.read() as conn:
            draft = draft_of(conn)
            context = self.design.context(
                conn, session, draft, original, None, Problems.none(), None
            )
            context["change_control"] = change_control_view(conn, session.principal)
        return page(self.design.template(), session, **context)
