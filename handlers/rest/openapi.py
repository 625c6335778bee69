"""The OpenAPI document describes what the server really answers.

FastAPI documents the success response and a 422 `HTTPValidationError` the server never sends. This completes
every operation from the error catalogue (connectnow/errors.py), so a generated client or a conformance
tester (schemathesis runs in the suite) sees the truth:

- every error status an operation can answer, with the catalogue's body `{ok: false, error: {...}}` and, in
  its description, the codes behind that status; 429 and 503 with their `Retry-After` header;
- responses that are not JSON (metrics, iCalendar, CSV, files) declared with their media type.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from connectnow.errors import catalogue
from handlers.rest.workspaces import BODY_COMPONENTS, BODY_SCHEMA_KEY
from models.common import ErrorResponse

API_PREFIX = "/api/v1"
_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}

# Statuses any /api/v1 operation may answer: validation, rate limits, an unavailable store, and lookups (an
# unknown id, a resource the caller may not see, and anything a stale cursor no longer names answer 404).
_EVERY_API_OPERATION = (404, 422, 429, 503)
_SECURED = (401, 403)  # authentication and authorization
_WITH_BODY = (400, 409, 413, 415)  # bodies: unreadable, conflicting, too large, of a refused type
_CHANGES = (409, 501)  # writes may conflict; broadcasts into channels may be unavailable

# Responses that are not JSON: (path, method) -> media types of the success body.
_TEXT = {"type": "string"}
_BINARY = {"type": "string", "format": "binary"}
NON_JSON: dict[tuple[str, str], tuple[str, dict[str, Any], tuple[str, ...]]] = {
    ("/metrics", "get"): ("200", _TEXT, ("text/plain",)),
    (f"{API_PREFIX}/feeds/{{token}}.ics", "get"): ("200", _TEXT, ("text/calendar",)),
    (f"{API_PREFIX}/calendars/{{calendar_id}}/export", "get"): ("200", _TEXT, ("text/calendar",)),
    (f"{API_PREFIX}/contacts/export", "get"): ("200", _TEXT, ("text/csv",)),
    (f"{API_PREFIX}/calendar-exports/{{export_id}}/download", "get"): (
        "200",
        _BINARY,
        ("application/json", "text/csv", "text/calendar"),
    ),
    (f"{API_PREFIX}/attachments/{{attachment_id}}", "get"): ("200", _BINARY, ("application/octet-stream", "*/*")),
    (f"{API_PREFIX}/attachments/{{attachment_id}}/thumbnail", "get"): ("200", _BINARY, ("image/webp", "image/*")),
}


def _codes_by_status() -> dict[int, list[str]]:
    by_status: dict[int, list[str]] = defaultdict(list)
    for entry in catalogue().values():
        by_status[entry.http_status].append(entry.code)
    return by_status


def _error_response(status: int, codes: list[str]) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in codes) or "see docs/ERRORS.md"
    response: dict[str, Any] = {
        "description": f"Refused: {listed} (docs/ERRORS.md)",
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


# Outside /api/v1: the probes and the dashboard.
_OUTSIDE_API = {("/metrics", "get"): {403}, ("/readyz", "get"): {503}}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    if not path.startswith(API_PREFIX):
        return _OUTSIDE_API.get((path, method), set())
    statuses = set(_EVERY_API_OPERATION) | set(_SECURED)  # sign-in and refresh answer 401 without a token too
    if "requestBody" in operation:
        statuses.update(_WITH_BODY)
    if method != "get":
        statuses.update(_CHANGES)
    else:
        statuses.add(409)  # a download of an export that is not ready yet (EXPORT_NOT_READY)
    return statuses


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the catalogue's error responses and the non-JSON media types to a generated document."""
    codes = _codes_by_status()
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorResponse"] = error_schema
    components.update(BODY_COMPONENTS)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if BODY_SCHEMA_KEY in operation:  # a mirror's typed body (workspaces.typed_body)
                body_schema = operation.pop(BODY_SCHEMA_KEY)
                operation["requestBody"]["content"] = {"application/json": {"schema": body_schema}}
            responses = operation.setdefault("responses", {})
            statuses = _statuses(path, method, operation) | ({422} if "422" in responses else set())
            for status in sorted(statuses):
                responses[str(status)] = _error_response(status, codes.get(status, []))
            if (path, method) in NON_JSON:
                status_key, media_schema, media_types = NON_JSON[(path, method)]
                responses[status_key]["content"] = {media: {"schema": media_schema} for media in media_types}
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = complete(generated)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
