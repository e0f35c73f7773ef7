"""RFC 9457 problem documents for every error the app returns.

Service errors carry their own status, title and field errors; framework
errors (malformed JSON, unknown routes, wrong methods) are mapped to the same
shape, and anything unexpected becomes a 500 without a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from labledger.errors import PayloadTooLarge, ServiceError, TooManyRequests, Unauthorized

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("labledger")


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _error_headers(exc: ServiceError) -> dict[str, str] | None:
    """The headers RFC 6750 and RFC 9110 ask for with a 401 and a 429."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="labledger"'}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(exc.retry_after)}
    return None


def service_error_handler(
    request: Request[Any, Any, Any], exc: ServiceError
) -> Response[dict[str, Any]]:
    headers = _error_headers(exc)
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        instance=request.url.path,
        errors=[e.as_dict() for e in exc.errors],
        extra=exc.extra,
        headers=headers,
    )


def framework_errors(exc: HTTPException) -> list[dict[str, str]]:
    """The field errors of a parameter or body Litestar refused (out of range, wrong type)."""
    if not isinstance(exc, ValidationException) or not isinstance(exc.extra, list):
        return []
    result = []
    for item in exc.extra:
        if isinstance(item, dict):
            location = str(item.get("key") or item.get("source") or "body")
            result.append({"field": location, "message": str(item.get("message", ""))})
    return result


def _too_large_detail(request: Request[Any, Any, Any]) -> str:
    """Name the body size limit (``Settings.request_max_bytes``) that was exceeded."""
    limit = request.route_handler.resolve_request_max_body_size()
    return f"The request body is larger than the limit of {limit or 0:,} bytes."


def http_error_handler(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    status = exc.status_code
    detail = exc.detail
    if status == 404 and detail in ("Not Found", ""):
        detail = f"There is nothing at {request.url.path}."
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    elif status == 413:
        detail = _too_large_detail(request)
    title = {
        400: "Bad request",
        404: "Not found",
        405: "Method not allowed",
        413: PayloadTooLarge.title,
    }.get(status, "Request failed")
    return problem(
        status,
        title,
        detail,
        instance=request.url.path,
        errors=framework_errors(exc),
        headers=getattr(exc, "headers", None),
    )


def unexpected_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        500,
        "Internal error",
        "The server could not complete the request; nothing was saved. The error is logged.",
        instance=request.url.path,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ServiceError: service_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
