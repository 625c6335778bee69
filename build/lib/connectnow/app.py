"""The ASGI application: python-socketio's AsyncServer wrapping a FastAPI app."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from fastapi import FastAPI

from connectnow import __version__
from connectnow.config import Settings
from connectnow.node import Node
from connectnow.origins import OriginPolicy
from connectnow.realtime.hub import Hub, OrjsonCodec
from handlers.rest import install_rest
from handlers.socket import install_socket_handlers


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> socketio.ASGIApp:
    settings = settings or Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sio = socketio.AsyncServer(
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
    node = Node(settings=settings, sio=sio, hub=Hub(sio))

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
    )
    api.state.node = node
    install_rest(api, node)
    install_socket_handlers(sio, node)
    return socketio.ASGIApp(sio, other_asgi_app=api, socketio_path="socket.io")


def freeze_startup_heap() -> None:
    """Move everything built at start-up (routes, schemas, services: most of the heap) out of the garbage
    collector's reach. Full collections then scan only what serving allocated, and stop pausing the event
    loop for a hundred milliseconds and more, which was the p99 of a loaded server (issue 5's fan-out bench).
    Only for a serving process: an app created inside a test process would freeze the tests' objects too."""
    gc.collect()
    gc.freeze()


def app_factory() -> socketio.ASGIApp:
    """Entry point for `uvicorn --factory connectnow.app:app_factory` (settings from the environment)."""
    return create_app(freeze_heap=True)
