"""python-socketio's AsyncServer with the socket hygiene a public server needs.

- An Engine.IO session that has not connected to the namespace (authenticated) within
  `socket_connect_timeout_seconds` is closed: a handshake alone no longer holds a session open forever.
- Events named like Socket.IO's own (`connect`, `disconnect`, `connect_error`, ...) are refused with
  EVENT_RESERVED. python-socketio would otherwise run the server's own `disconnect` handler for a client's
  `disconnect` event, unregistering the socket while it stays in its rooms.
- Closing an Engine.IO session waits a bounded time for its queue to drain. python-engineio waits for a
  long-polling client to fetch the CLOSE packet; a client that never polls again (after a POST over
  `max_http_buffer_size`, say) left that POST unanswered and the server's shutdown hanging.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import engineio
import socketio
from socketio import packet

from connectnow import errors
from connectnow.errors import AppError

log = logging.getLogger("connectnow.socket")

# Reserved by the Socket.IO protocol and its clients (socket.io-client's RESERVED_EVENTS, plus python-socketio's).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener", "message", "*"}
)
CLOSE_DRAIN_SECONDS = 2.0  # how long a closing session may wait for its client to fetch the CLOSE packet
NAMESPACE = "/"


class BoundedCloseEngineIO(engineio.AsyncServer):
    async def disconnect(self, sid: str | None = None) -> None:
        try:
            await asyncio.wait_for(super().disconnect(sid), CLOSE_DRAIN_SECONDS)
        except TimeoutError:
            # The sockets are closed already (flag set, disconnect handlers run); only the drain was cut short.
            if sid is None:
                self.sockets.clear()
            else:
                self.sockets.pop(sid, None)


class ConnectNowServer(socketio.AsyncServer):
    def __init__(self, *args: Any, connect_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connect_timeout = connect_timeout
        self._deadlines: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # Set by the connection handlers: whether a Socket.IO sid got past authentication.
        self.is_authenticated: Callable[[str], bool] = lambda sid: True

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return BoundedCloseEngineIO

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        self._arm_deadline(eio_sid, grace=True)
        return result

    def _arm_deadline(self, eio_sid: str, *, grace: bool) -> None:
        loop = asyncio.get_running_loop()
        self._deadlines[eio_sid] = loop.call_later(self.connect_timeout, self._connect_deadline, eio_sid, grace)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        handle = self._deadlines.pop(eio_sid, None)
        if handle is not None:
            handle.cancel()
        await super()._handle_eio_disconnect(eio_sid, reason)

    def _connect_deadline(self, eio_sid: str, grace: bool) -> None:
        self._deadlines.pop(eio_sid, None)
        sid = self.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        if sid is not None and self.is_authenticated(sid):
            return
        if sid is not None and grace:
            self._arm_deadline(eio_sid, grace=False)  # its CONNECT is being authenticated: one more period
            return
        log.info("closing Engine.IO session %s: no CONNECT within %ss", eio_sid, self.connect_timeout)
        task = asyncio.get_running_loop().create_task(self.eio.disconnect(eio_sid))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        name = data[0] if isinstance(data, list) and data else None
        if isinstance(name, str) and name in RESERVED_EVENTS:
            if id is not None:
                body = AppError(errors.EVENT_RESERVED, f"{name!r} is a reserved event name").body()
                await self._send_packet(eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[body]))
            return
        await super()._handle_event(eio_sid, namespace, id, data)
