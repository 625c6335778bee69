"""The ASGI application: python-socketio's AsyncServer wrapping a FastAPI app."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
from fastapi import FastAPI

from connectnow import __version__
from connectnow.config import Settings
from connectnow.http_edge import wrap_edge
from connectnow.node import Node
from connectnow.origins import OriginPolicy
from connectnow.realtime.hub import Hub, OrjsonCodec
from connectnow.realtime.sio_server import ConnectNowServer
from handlers.rest import install_rest
from handlers.rest.docs_page import install_docs
from handlers.socket import install_socket_handlers


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> socketio.ASGIApp:
    settings = settings or Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sio = ConnectNowServer(
        connect_timeout=settings.socket_connect_timeout_seconds,
        async_mode="asgi",
        cors_allowed_origins=OriginPolicy(settings),
        max_http_buffer_size=settings.max_http_buffer_size,
        ping_interval=settings.ping_interval_seconds,
        ping_timeout=settings.ping_timeout_seconds,
        # Several workers share a port without sticky sessions: long-polling would hop between them.
        transports=["websocket"] if settings.workers > 1 else ["polling", "websocket"],
        logger=False,
        engineio_logger=False,
        json=OrjsonCodec,  # the hot path encodes every event: orjson instead of the standard library
    )
    node = Node(settings=settings, sio=sio, hub=Hub(sio, max_pending_packets=settings.max_pending_packets))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            await node.stop()

    api = FastAPI(
        title="ConnectNow",
        version=__version__,
        description="Real-time chat server. REST for bots and integrations; Socket.IO for clients.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from local assets
        redoc_url=None,  # ReDoc would load its script from a CDN
    )
    api.state.node = node
    install_rest(api, node)
    install_docs(api)
    install_socket_handlers(sio, node)
    return EdgeApp(sio, api, settings)


class EdgeApp(socketio.ASGIApp):
    """Socket.IO and the REST app behind the edge layers of connectnow/http_edge.py (proxy headers, security
    headers), which so apply to Engine.IO's polling and WebSocket requests too."""

    def __init__(self, sio: socketio.AsyncServer, api: FastAPI, settings: Settings) -> None:
        super().__init__(sio, other_asgi_app=api, socketio_path="socket.io")
        self._edge = wrap_edge(super().__call__, settings)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._edge(scope, receive, send)


def freeze_startup_heap() -> None:
    """Move everything built at start-up (routes, schemas, services: most of the heap) out of the garbage
    collector's reach. Full collections then scan only what serving allocated, and stop pausing the event
    loop for a hundred milliseconds and more, which was the p99 of a loaded server (the fan-out bench).
    Only for a serving process: an app created inside a test process would freeze the tests' objects too."""
    gc.collect()
    gc.freeze()


def app_factory() -> socketio.ASGIApp:
    """Entry point for `uvicorn --factory connectnow.app:app_factory` (settings from the environment)."""
    return create_app(freeze_heap=True)
