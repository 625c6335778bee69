"""Socket.IO: every event router gathered here and installed on the server."""

from __future__ import annotations

import socketio

from connectnow.node import Node
from handlers.socket import (  # issue 3B: direct messages, typing  # issue 4: presence, gap-free recovery
    channels,
    connection,
    direct,
    messages,
    presence,
    sync,
    typing,
    workspaces,
)
from handlers.socket.router import SocketRouter

socket_router = SocketRouter()
for module in (connection, workspaces, channels, messages):
    socket_router.include(module.router)
for module in (direct, typing):  # issue 3B
    socket_router.include(module.router)
socket_router.include(presence.router)  # issue 4
socket_router.include(sync.router)  # issue 4


def install_socket_handlers(sio: socketio.AsyncServer, node: Node) -> None:
    connection.install_connection_handlers(sio, node)
    socket_router.install(sio, node)
