"""Socket.IO: every event router gathered here and installed on the server."""

from __future__ import annotations

import socketio

from connectnow.node import Node
from handlers.socket import (
    channels,
    connection,
    dashboard,
    direct,
    messages,
    moderation,
    presence,
    sync,
    typing_indicators,
    voice,
    workspaces,
)
from handlers.socket.router import SocketRouter

socket_router = SocketRouter()
for module in (
    connection,  # foundation: whoami
    workspaces,  # chat core
    channels,
    messages,
    moderation,  # deleted messages kept for review, reports
    direct,
    voice,  # VOICE channel calls
    typing_indicators,
    presence,  # presence, recovery and operators
    sync,
    dashboard,
):
    socket_router.include(module.router)


def install_socket_handlers(sio: socketio.AsyncServer, node: Node) -> None:
    connection.install_connection_handlers(sio, node)
    socket_router.install(sio, node)
