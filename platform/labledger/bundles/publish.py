"""Publishing one bundle item through the service that owns its kind.

Each kind is published by its own service, exactly as an admin's edit is, so
a bundle is validated and audited like one. What the services need to know
about the rest of the bundle (the roles, workflows and types it defines
alongside) is gathered here once per import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import Any

from sqlalchemy import Connection

from labledger.bundles.format import KEYED_SECTIONS, Bundle
from labledger.bundles.resolve import keyed_items
from labledger.dashboards.definitions import publish_dashboard
from labledger.identity.principal import Principal
from labledger.identity.roles import save_role
from labledger.integration.mappings import publish_mapping
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import definition_context, past_field_types, publish_type
from labledger.metadata.validation import DefinitionContext
from labledger.printing.templates import publish_print_template
from labledger.workflows.definitions import publish_workflow

#: (changed, version published) of one item; roles have no versions.
Outcome = tuple[bool, int | None]


class ItemPublisher:
    """Publishes the items of one bundle, in the caller's transaction."""

    def __init__(self, conn: Connection, actor: Principal, bundle: Bundle, *, rehearsal: bool):
        self.conn = conn
        self.actor = actor
        self.bundle = bundle
        #: A dry run: types skip the database objects that cannot fail.
        self.rehearsal = rehearsal
        self.keys = {section: set(keyed_items(bundle, section)) for section in KEYED_SECTIONS}
        #: The types stored before the import: only they have earlier versions to check against.
        self.types_here = set(versions.keys(conn, TYPE_KIND))
        self._publishers: dict[str, Callable[[Any, str], Outcome]] = {
            "roles": self._role,
            "workflows": self._workflow,
            "types": self._type,
            "mappings": self._mapping,
            "print_templates": self._print_template,
            "dashboards": self._dashboard,
        }

    def __call__(self, section: str, definition: Any, path: str) -> Outcome:
        """Publish ``definition`` (at ``path`` in the bundle) of ``section``."""
        return self._publishers[section](definition, path)

    @staticmethod
    def _versioned(published: versions.Published) -> Outcome:
        return published.changed, published.version

    def _role(self, definition: dict[str, Any], _path: str) -> Outcome:
        return save_role(self.conn, self.actor, definition), None

    def _workflow(self, definition: Any, path: str) -> Outcome:
        return self._versioned(
            publish_workflow(
                self.conn,
                self.actor,
                definition,
                path_prefix=path,
                extra_roles=self.keys["roles"],
                batch_types=keyed_items(self.bundle, "types"),
            )
        )

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

    def _type(self, definition: Any, path: str) -> Outcome:
        key = definition.get("key") if isinstance(definition, dict) else None
        existed = isinstance(key, str) and key in self.types_here
        past = past_field_types(self.conn, str(key)) if existed else {}
        return self._versioned(
            publish_type(
                self.conn,
                self.actor,
                definition,
                context=replace(self._names, past_field_types=past),
                path_prefix=path,
                rehearsal=self.rehearsal,
            )
        )

    def _mapping(self, definition: Any, path: str) -> Outcome:
        return self._versioned(publish_mapping(self.conn, self.actor, definition, path_prefix=path))

    def _print_template(self, definition: Any, path: str) -> Outcome:
        return self._versioned(
            publish_print_template(self.conn, self.actor, definition, path_prefix=path)
        )

    def _dashboard(self, definition: Any, path: str) -> Outcome:
        return self._versioned(
            publish_dashboard(self.conn, self.actor, definition, path_prefix=path)
        )
