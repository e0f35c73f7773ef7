"""The object type service: read, list and publish object type definitions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from labledger.errors import FieldError, Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import CONFIGURE, Principal
from labledger.identity.roles import existing_role_keys
from labledger.metadata import versions
from labledger.metadata.fieldtypes import value_type
from labledger.metadata.model import TypeModel, compile_model
from labledger.metadata.physical import sync_database_objects
from labledger.metadata.publishing import publish_version
from labledger.metadata.spec.stored import decode_stored_field
from labledger.metadata.validation import DefinitionContext, validate_type_definition
from labledger.metadata.workflow_fit import WORKFLOW_KIND, check_type_workflow

KIND = "object_type"


_MODELS = versions.CompiledCache(KIND, compile_model)


def type_model(conn: Connection, key: str, version: int | None = None) -> TypeModel:
    """The compiled model of the current (or a given) version of type ``key``."""
    model = _MODELS.get(conn, key, version)
    if model is None and version is not None:
        raise NotFound(f"Object type '{key}' has no version {version}.")
    if model is None:
        raise NotFound(f"There is no object type '{key}'.")
    return model


def readable_model(conn: Connection, actor: Principal, key: str) -> TypeModel:
    """The current model, refusing a caller who may not read records of the type."""
    model = type_model(conn, key)
    if not (model.allows(actor, "read") or actor.has_permission(CONFIGURE)):
        raise Forbidden(f"You may not read {model.spec.plural}.")
    return model


def list_types(conn: Connection, actor: Principal) -> list[dict[str, Any]]:
    """The types the caller may read (all of them for a configurer)."""
    result = []
    for key in versions.keys(conn, KIND):
        model = type_model(conn, key)
        if model.allows(actor, "read") or actor.has_permission(CONFIGURE):
            result.append(
                {
                    "key": key,
                    "label": model.label,
                    "plural": model.spec.plural,
                    "version": model.version,
                    "workflow": model.workflow,
                }
            )
    return result


def definition_context(
    conn: Connection,
    key: str,
    *,
    extra_types: set[str] | None = None,
    extra_workflows: set[str] | None = None,
    extra_roles: set[str] | None = None,
) -> DefinitionContext:
    """What a definition of type ``key`` may refer to, as the database stands."""
    return DefinitionContext(
        types=set(versions.keys(conn, KIND)) | (extra_types or set()),
        workflows=set(versions.keys(conn, WORKFLOW_KIND)) | (extra_workflows or set()),
        roles=existing_role_keys(conn) | (extra_roles or set()),
        past_field_types=past_field_types(conn, key),
    )


def past_field_types(conn: Connection, key: str) -> dict[str, str]:
    """Every field key ever published for type ``key``, with its type."""
    past: dict[str, str] = {}
    for row in versions.all_versions(conn, KIND, key):
        for fdef in row["body"]["fields"]:
            past.setdefault(fdef["key"], value_type(decode_stored_field(fdef)))
    return past


def publish_type(
    conn: Connection,
    actor: Principal,
    definition: Any,
    *,
    context: DefinitionContext | None = None,
    path_prefix: str = "",
    rehearsal: bool = False,
) -> versions.Published:
    """Validate and publish ``definition`` as the next version of its type.

    Publishing an unchanged definition changes nothing. A changed one gets a
    new immutable version, its indexes and report view are brought in line,
    and the change is audited with a field-by-field summary. ``rehearsal``:
    the caller rolls back (a dry run); see ``sync_database_objects``.
    """
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Publishing object types needs the 'configure' permission.")
    if not isinstance(definition, dict):
        raise ValidationFailed(
            "The object type definition is not valid.",
            [FieldError(path_prefix or "(document)", "must be an object")],
        )
    key = definition.get("key")
    if context is None:
        context = definition_context(conn, key if isinstance(key, str) else "")
    spec = validate_type_definition(definition, context, path_prefix)
    workflow_problems = check_type_workflow(conn, spec, path_prefix, batch_types=set(context.types))
    if workflow_problems:
        raise ValidationFailed("The object type does not fit its workflow.", workflow_problems)
    published = publish_version(conn, actor.username, KIND, definition, type_key=definition["key"])
    if not published.changed:
        return published
    model = compile_model(definition["key"], published.version, definition)
    try:
        sync_database_objects(conn, model, first=published.previous is None, rehearsal=rehearsal)
    except IntegrityError:  # a new unique index over existing duplicate values
        raise ValidationFailed(
            "A field cannot become unique: existing records hold duplicate values.",
            [
                FieldError(
                    f"{path_prefix}.fields" if path_prefix else "fields",
                    "existing records hold duplicate values",
                )
            ],
        ) from None
    return published
