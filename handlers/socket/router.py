"""Socket.IO events as thin, typed handlers.

`@router.event("message:send", MessageSend)` registers a handler `(ctx, payload) -> result`. The wrapper
finds the caller's connection, validates the payload with the model (extra fields refused), calls the
handler and acknowledges `{"ok": true, "data": ...}`; an `AppError` becomes `{"ok": false, "error": ...}`
with the same codes as REST. Unexpected exceptions are logged and answered with INTERNAL, never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from pydantic import BaseModel, ValidationError

from connectnow import errors
from connectnow.errors import AppError
from connectnow.identity import Principal
from connectnow.node import Node, Services
from connectnow.realtime.hub import Connection, to_wire
from models.bounds import Undecodable

log = logging.getLogger("connectnow.socket")


@dataclass(frozen=True, slots=True)
class SocketContext:
    sid: str
    conn: Connection
    node: Node

    @property
    def principal(self) -> Principal:
        return self.conn.principal

    @property
    def svc(self) -> Services:
        return self.node.svc


Handler = Callable[[SocketContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class EventSpec:
    name: str
    model: type[BaseModel] | None
    handler: Handler


class SocketRouter:
    def __init__(self) -> None:
        self.events: dict[str, EventSpec] = {}

    def event(self, name: str, model: type[BaseModel] | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self.events:
                raise RuntimeError(f"socket event {name} registered twice")
            self.events[name] = EventSpec(name, model, handler)
            return handler

        return register

    def include(self, other: SocketRouter) -> None:
        for spec in other.events.values():
            if spec.name in self.events:
                raise RuntimeError(f"socket event {spec.name} registered twice")
            self.events[spec.name] = spec

    def install(self, sio: socketio.AsyncServer, node: Node) -> None:
        for spec in self.events.values():
            sio.on(spec.name, handler=_wrap(spec, node))

        async def unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
            return AppError(errors.UNKNOWN_EVENT, f"Unknown event {event!r}").body()

        sio.on("*", handler=unknown)


def ok(data: Any) -> dict[str, Any]:
    return {"ok": True, "data": to_wire(data)}


def _wrap(spec: EventSpec, node: Node) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def handle(sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
        conn = node.hub.connection(sid)
        if conn is None:
            return AppError(errors.AUTH_REQUIRED, "This socket is not authenticated").body()
        node.svc.presence.touch(conn.user_id, sid)  # any event a socket sends is activity
        try:
            payload = _validate(spec.model, data)
            result = await spec.handler(SocketContext(sid=sid, conn=conn, node=node), payload)
        except AppError as exc:
            node.hub.metrics.refused(exc.code)
            return exc.body()
        except Exception:
            log.exception("socket event %s failed", spec.name)
            return AppError(errors.INTERNAL).body()
        return ok(result)

    return handle


def _validate(model: type[BaseModel] | None, data: Any) -> Any:
    if isinstance(data, Undecodable):  # the codec could not read it (connectnow/realtime/hub.py)
        details = {"errors": [{"loc": ["payload"], "msg": data.reason, "type": "json_invalid"}]}
        raise AppError(errors.VALIDATION_FAILED, details=details)
    if model is None:
        return None
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise errors.validation_failed(exc.errors()) from exc
