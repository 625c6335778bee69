"""REST answers for every failure, in the catalogue's shape: {"ok": false, "error": {...}}."""

from __future__ import annotations

import functools
import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectnow import errors
from connectnow.errors import AppError

log = logging.getLogger("connectnow.rest")
# Starlette's own refusals (routing, body reading), in the catalogue's codes.
_HTTP_CODES = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED, 413: errors.PAYLOAD_TOO_LARGE}


def error_response(exc: AppError) -> JSONResponse:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse(exc.body(), status_code=exc.http_status, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API answers on this path, from the OpenAPI document (Starlette's 405 names only the
    first matching route's method, and FastAPI makes one route per method)."""
    path = request.scope.get("path", "")
    methods = {
        method.upper()
        for template, item in request.app.openapi().get("paths", {}).items()
        if _template_regex(template).fullmatch(path)
        for method in item
    }
    return sorted(methods)


@functools.cache
def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        node = getattr(request.app.state, "node", None)
        if node is not None:
            node.hub.metrics.refused(exc.code)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(errors.validation_failed(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, errors.HTTP_ERROR)
        response = error_response(AppError(code, None if code is not errors.HTTP_ERROR else str(exc.detail)))
        response.status_code = exc.status_code
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(AppError(errors.INTERNAL))
