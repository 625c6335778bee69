"""REST answers for every failure, in the catalogue's shape: {"ok": false, "error": {...}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectnow import errors
from connectnow.errors import AppError

log = logging.getLogger("connectnow.rest")


def error_response(exc: AppError) -> JSONResponse:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse(exc.body(), status_code=exc.http_status, headers=headers)


def validation_details(errs: list[Any]) -> dict[str, Any]:
    # The offending input is never echoed back: it may be a password.
    return {
        "errors": [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errs[:20]
        ]
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        node = getattr(request.app.state, "node", None)
        if node is not None:
            node.hub.metrics.refused(exc.code)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(AppError(errors.VALIDATION_FAILED, details=validation_details(list(exc.errors()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED, 413: errors.PAYLOAD_TOO_LARGE}.get(
            exc.status_code
        )
        if code is None:
            body = {
                "ok": False,
                "error": {"code": "HTTP_ERROR", "message": str(exc.detail), "retryable": False},
            }
            return JSONResponse(body, status_code=exc.status_code)
        return error_response(AppError(code))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(AppError(errors.INTERNAL))
