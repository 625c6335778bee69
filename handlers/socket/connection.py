"""Connection lifecycle: authenticate on connect, forget on disconnect, and `session:whoami`."""

from __future__ import annotations

import logging
from typing import Any

import socketio

from connectnow import errors
from connectnow.errors import AppError
from connectnow.node import Node
from connectnow.realtime.sio_server import ConnectNowServer
from handlers.socket.router import SocketContext, SocketRouter

log = logging.getLogger("connectnow.socket")
router = SocketRouter()


def install_connection_handlers(sio: socketio.AsyncServer, node: Node) -> None:
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            token = _token_from(auth)
            principal = await node.svc.auth.authenticate(token)
            await _check_socket_cap(node, principal.user_id)
        except AppError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.code, exc.body()["error"]) from None
        await node.hub.register(sid, principal)
        # Chat core: the workspace and channel rooms this user may see (a banned user is in none).
        for room in await node.svc.chat.rooms_for(principal.user_id):
            await sio.enter_room(sid, room)
        # Direct messages: the `dm:{id}` room of each of the user's conversations.
        for room in await node.svc.direct.rooms_for(principal.user_id):
            await sio.enter_room(sid, room)
        node.hub.metrics.connects.inc()
        await node.svc.presence.connected(principal.user_id, sid)
        await node.svc.dashboard.connection_event("connect", principal, sid)

    async def disconnect(sid: str, reason: Any = None) -> None:
        if sio.manager.is_connected(sid, "/"):
            return  # a real disconnection is pending here: this is a client's own "disconnect" event
        conn = node.hub.unregister(sid)
        if conn is not None:
            node.hub.metrics.disconnects.inc()
            node.svc.dashboard.forget(sid)
            await node.svc.voice.disconnected(sid)  # a socket that is gone leaves its call
            await node.svc.presence.disconnected(conn.user_id, sid)
            await node.svc.dashboard.connection_event("disconnect", conn.principal, sid)

    if isinstance(sio, ConnectNowServer):  # sessions that never authenticate are closed
        sio.is_authenticated = lambda sid: node.hub.connection(sid) is not None
    sio.on("connect", handler=connect)
    sio.on("disconnect", handler=disconnect)


async def _check_socket_cap(node: Node, user_id: str) -> None:
    cap = node.settings.max_sockets_per_user
    if await node.svc.presence.socket_count(user_id) >= cap:
        raise AppError(errors.TOO_MANY_SOCKETS, f"At most {cap} sockets per user", details={"max": cap})


def _token_from(auth: Any) -> str:
    # Only the Socket.IO auth payload is read; a token in the query string is ignored.
    if auth is None:
        raise AppError(errors.AUTH_REQUIRED, 'Send auth = {"token": "<access token or API key>"}')
    if not isinstance(auth, dict) or not isinstance(auth.get("token"), str):
        raise AppError(errors.AUTH_MALFORMED, 'auth must be {"token": "<string>"}')
    token: str = auth["token"]
    return token


@router.event("session:whoami")
async def whoami(ctx: SocketContext, _: None) -> dict[str, Any]:
    return {
        "sid": ctx.sid,
        "user": ctx.svc.users.me(ctx.principal.user),
        "sessionId": ctx.principal.session_id,
        "apiKeyId": ctx.principal.api_key_id,
    }
