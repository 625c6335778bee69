"""Refuse client input no endpoint can handle, before any endpoint sees it.

- JSON bodies are decoded once here with `decode_client_json` (orjson, depth-bounded): nesting past
  MAX_JSON_DEPTH, NaN, lone surrogate escapes and malformed JSON answer 422 VALIDATION_FAILED. FastAPI's own
  decoder (the standard library's) would recurse until RecursionError on a deeply nested body.
- Query strings and paths holding NUL, other control characters or undecodable bytes answer 422: they would
  reach SQLite's full-text query parser or a driver and fail there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import orjson

from connectnow import errors
from connectnow.errors import AppError
from models.bounds import JsonValueError, check_text_param, decode_client_json

Scope = dict[str, Any]
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False  # FastAPI (strict_content_type, its default) reads a body as JSON only when it says it is


def _text_problem(scope: Scope) -> str | None:
    try:
        check_text_param(scope.get("path", ""), "path")
        query = scope.get("query_string", b"").decode("latin-1")
        check_text_param(unquote(query, errors="strict"), "query")
    except UnicodeDecodeError:
        return "query: not valid UTF-8 after percent-decoding"
    except JsonValueError as exc:
        return str(exc)
    return None


class InputGuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _text_problem(scope)
        if problem is not None:
            await _refuse(send, problem, "query_or_path")
            return
        if scope.get("method") not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Any] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if body:
            try:
                decode_client_json(bytes(body))
            except JsonValueError as exc:
                await _refuse(send, str(exc), "json_invalid")
                return
        replay = iter(messages)

        async def replayed_receive() -> Any:
            for message in replay:
                return message
            return await receive()

        await self.app(scope, replayed_receive, send)


async def _refuse(send: Any, message: str, kind: str) -> None:
    details = {"errors": [{"loc": ["body" if kind == "json_invalid" else "request"], "msg": message, "type": kind}]}
    payload = orjson.dumps(AppError(errors.VALIDATION_FAILED, details=details).body())
    await send(
        {
            "type": "http.response.start",
            "status": errors.VALIDATION_FAILED.http_status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
