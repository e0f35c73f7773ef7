"""The OpenAPI document, completed with the errors the API really returns.

Litestar documents each operation's success response and, for operations with
parameters, a 400 in its own ``{status_code, detail, extra}`` shape, which is
not what ``api/problems.py`` sends. Rather than repeat a ``responses=`` mapping
on every handler, the served document is post-processed once: every operation
under ``/api/v1`` gets the RFC 9457 problem responses that apply to it, all
pointing at one shared ``Problem`` schema component.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, fields
from typing import Any

from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import OpenAPI

from labledger.api.problems import PROBLEM_JSON
from labledger.api.rawbody import RAW_BODY

API_PREFIX = "/api/v1/"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

PROBLEM_FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One problem with one input location.",
    "required": ["field", "message"],
    "properties": {
        "field": {
            "type": "string",
            "description": "a field key, a JSON path such as data.reading, or a parameter name",
        },
        "message": {"type": "string"},
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document (media type application/problem+json).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "always about:blank"},
        "title": {"type": "string", "description": "the kind of error, e.g. Validation failed"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "a sentence a person can act on"},
        "instance": {"type": "string", "description": "the path that was called"},
        "errors": {
            "type": "array",
            "description": "for invalid input: one entry per problem",
            "items": {"$ref": "#/components/schemas/ProblemFieldError"},
        },
        "current_version": {
            "type": "integer",
            "description": "409 on a record: the version the record has now",
        },
        "current": {
            "type": "object",
            "description": "409 on a record: the record as it is now",
        },
        "blocked_by": {
            "type": "array",
            "items": {"type": "string"},
            "description": "a refused transition or signature: what blocked it "
            "(e.g. version, state, roles, signer, password)",
        },
        "retry_after": {
            "type": "integer",
            "description": "429: seconds to wait, as in the Retry-After header",
        },
        "report": {
            "type": "object",
            "description": "a refused bundle or mapping import: its report",
        },
        "import": {
            "type": "integer",
            "description": "409 on a file imported before: the id of that import",
        },
    },
}

STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: malformed JSON, unknown members, or a parameter of the wrong type "
    "or out of range",
    401: "Authentication required: no API token, or one that is unknown, revoked, or whose "
    "user is inactive or locked",
    403: "Forbidden: the user's roles do not allow it",
    404: "Not found: an unknown type, record or other item named by the request",
    409: "Conflict: the item changed meanwhile, is in another state, or concurrent changes "
    "kept interfering; nothing was saved",
    413: "Payload too large: the body is over its documented size limit",
    415: "Unsupported media type: the body must be sent as application/json",
    422: "Validation failed: input that breaks the rules (field errors in errors), or a NUL "
    "character in the address",
    428: "Precondition required: send the version you last read as If-Match",
    429: "Too many requests: wait Retry-After seconds (too many wrong tokens or passwords)",
    503: "Changes cannot be recorded: the audit trail's chain tip is damaged",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer realm"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
}


def _takes_json_body(operation: dict[str, Any]) -> bool:
    """Whether the framework decodes the body as JSON (a raw body is taken as sent)."""
    if operation.get(RAW_BODY):
        return False
    content = operation.get("requestBody", {}).get("content", {})
    return any(media == "application/json" or media.endswith("+json") for media in content)


def _takes_if_match(operation: dict[str, Any]) -> bool:
    return any(
        p.get("in") == "header" and p.get("name", "").lower() == "if-match"
        for p in operation.get("parameters", [])
    )


def problem_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses one API operation can answer with.

    Every call can lack a token (401), be throttled for wrong tokens (429), be
    refused by roles (403) or carry a NUL in its address (422); what it names
    can be malformed (400) or unknown (404); a write can conflict (409), be too
    large (413) or meet a suspended audit trail (503); a JSON body can be sent
    as another media type (415, not for a raw body); an update guarded by If-Match needs it (428).
    """
    statuses = {401, 403, 422, 429}
    if operation.get("parameters") or "requestBody" in operation:
        statuses |= {400, 404}
    if method in WRITE_METHODS:
        statuses |= {409, 413, 503}
    if _takes_json_body(operation):
        statuses.add(415)
    if method == "patch" and _takes_if_match(operation):
        statuses.add(428)
    return sorted(statuses)


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of one error status (``description``: the operation's own)."""
    response: dict[str, Any] = {
        "description": description or STATUS_DESCRIPTIONS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in _HEADERS:
        response["headers"] = deepcopy(_HEADERS[status])
    return response


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Add the Problem components and each API operation's problem responses.

    Litestar's own error responses (its 400 ``ValidationException`` shape) are
    replaced, since the app never sends that shape. The constants are copied
    in, so a consumer that edits its document (a fuzzer resolving references)
    cannot change the next one.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = deepcopy(PROBLEM_SCHEMA)
    schemas["ProblemFieldError"] = deepcopy(PROBLEM_FIELD_ERROR_SCHEMA)
    for path, item in document.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in item.items():
            if method not in WRITE_METHODS | {"get"}:
                continue
            responses = operation.setdefault("responses", {})
            common = problem_statuses(method, operation)
            for status in common:
                responses[str(status)] = problem_response(status)
            # An error only some operations answer (a 406 for an Accept they cannot
            # give) is declared by the handler with its description; it is a problem too.
            for key, declared in responses.items():
                if key.isdigit() and int(key) >= 400 and int(key) not in common:
                    responses[key] = problem_response(int(key), declared.get("description"))
    return document


class ProblemDocumentedOpenAPI(OpenAPI):
    """An OpenAPI document whose served form documents the problem responses."""

    def to_schema(self) -> dict[str, Any]:
        return document_problems(super().to_schema())


@dataclass
class ApiOpenAPIConfig(OpenAPIConfig):
    """OpenAPIConfig building a ``ProblemDocumentedOpenAPI`` (Litestar has no later hook)."""

    def to_openapi_schema(self) -> OpenAPI:
        plain = super().to_openapi_schema()
        return ProblemDocumentedOpenAPI(**{f.name: getattr(plain, f.name) for f in fields(plain)})
