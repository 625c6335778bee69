"""The library internals the hub's fast path relies on (connectnow/realtime/transport.py), checked loudly.

An upgrade of python-socketio, python-engineio, uvicorn or websockets fails here first, naming what changed:
re-read the assumptions in transport.py's docstring against the new source, then update the pin in
pyproject.toml, `transport.PINNED` and the fingerprint below in the same commit."""

from __future__ import annotations

import hashlib
import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import engineio.async_drivers.asgi as eio_asgi
import engineio.async_server as eio_server
import engineio.async_socket as eio_socket
import engineio.base_socket as eio_base_socket
import pytest
import socketio
import socketio.async_server as sio_server
import socketio.base_manager as sio_manager
import socketio.base_server as sio_base_server
import socketio.packet as sio_packet
import uvicorn.protocols.websockets.websockets_sansio_impl as uvicorn_ws
import websockets.datastructures as ws_datastructures
import websockets.frames as ws_frames
import websockets.protocol as ws_protocol
import websockets.server as ws_server
from websockets.protocol import State
from websockets.server import ServerProtocol

from connectnow.realtime import transport
from connectnow.realtime.hub import Hub, OrjsonCodec

ROOT = Path(__file__).resolve().parents[2]

# sha256 (first 16 hex digits) of the source of every function or class transport.py depends on.
FINGERPRINTS: dict[str, tuple[Any, str]] = {
    "engineio AsyncSocket._websocket_handler (writer task, `ws.send` per packet)": (
        eio_socket.AsyncSocket._websocket_handler,
        "27f120df4d717a24",
    ),
    "engineio AsyncSocket.poll (drains the queue in one go)": (eio_socket.AsyncSocket.poll, "826f58a9f3606db2"),
    "engineio AsyncSocket.close (reason, abort)": (eio_socket.AsyncSocket.close, "faa2e93902543244"),
    "engineio BaseSocket.__init__ (queue, upgraded, closing, closed)": (
        eio_base_socket.BaseSocket.__init__,
        "8532b631a4dc815f",
    ),
    "engineio asgi WebSocket (the wrapper DirectWebSocket extends)": (eio_asgi.WebSocket, "ce9c81653992cd62"),
    "engineio AsyncServer._handle_connect (socket creation)": (
        eio_server.AsyncServer._handle_connect,
        "5bd7edc1d1ae115a",
    ),
    "socketio AsyncServer._send_eio_packet (per-recipient send)": (
        sio_server.AsyncServer._send_eio_packet,
        "64cf72a2ab7d75b1",
    ),
    "socketio BaseManager.get_participants": (sio_manager.BaseManager.get_participants, "7d78ad681c95de5b"),
    "uvicorn sans-I/O send (writable event, close_sent, transport.write)": (
        uvicorn_ws.WebSocketsSansIOProtocol.send,
        "3b8afeb81b9b9ae8",
    ),
    "uvicorn sans-I/O connection_lost (disconnected, writable set)": (
        uvicorn_ws.WebSocketsSansIOProtocol.connection_lost,
        "d0f4179c028b3303",
    ),
    "uvicorn sans-I/O pause_writing": (uvicorn_ws.WebSocketsSansIOProtocol.pause_writing, "4830f7e0d81f877d"),
    "uvicorn sans-I/O resume_writing": (uvicorn_ws.WebSocketsSansIOProtocol.resume_writing, "ef79384e5fff077c"),
    "websockets Frame.serialize": (ws_frames.Frame.serialize, "2aeba0b89df2e975"),
    # The lean socket (LeanSocket, DirectWebSocket.serve, PingWheel, LeanQueue, slim_protocol).
    "engineio AsyncSocket.schedule_ping (last_ping None while the next PING waits)": (
        eio_socket.AsyncSocket.schedule_ping,
        "fe316639159cd70d",
    ),
    "engineio AsyncSocket._send_ping (what PingWheel/ping_due replace)": (
        eio_socket.AsyncSocket._send_ping,
        "67db82a704ea49d0",
    ),
    "engineio AsyncSocket.send (ping timeout check, then queue)": (eio_socket.AsyncSocket.send, "0437276ccba7ab09"),
    "engineio AsyncSocket.receive (PONG, MESSAGE, UPGRADE, CLOSE)": (
        eio_socket.AsyncSocket.receive,
        "a91ae36ec2fb5340",
    ),
    "engineio AsyncSocket.check_ping_timeout (closes a silent client)": (
        eio_socket.AsyncSocket.check_ping_timeout,
        "77616d5ca7809257",
    ),
    "engineio AsyncSocket._upgrade_websocket (creates the wrapper with the bound handler)": (
        eio_socket.AsyncSocket._upgrade_websocket,
        "820b83efe96adb98",
    ),
    "engineio AsyncServer._trigger_event (the connect handler runs before schedule_ping)": (
        eio_server.AsyncServer._trigger_event,
        "4a09b6e47eb66532",
    ),
    "engineio AsyncServer._service_task (the PONG deadline)": (
        eio_server.AsyncServer._service_task,
        "b6358bda51d0b34b",
    ),
    "socketio BaseServer.__init__ (registers eio's connect handler)": (
        sio_base_server.BaseServer.__init__,
        "6b998e091b34a563",
    ),
    "uvicorn sans-I/O receive (queue.get, queue.empty)": (
        uvicorn_ws.WebSocketsSansIOProtocol.receive,
        "1dc0e715390021a1",
    ),
    "uvicorn sans-I/O send_receive_event_to_app (queue.put_nowait)": (
        uvicorn_ws.WebSocketsSansIOProtocol.send_receive_event_to_app,
        "a2b10de91477dc1d",
    ),
    "uvicorn sans-I/O handle_connect (self.request, self.response)": (
        uvicorn_ws.WebSocketsSansIOProtocol.handle_connect,
        "fe2a087aa2223cf8",
    ),
    "websockets ServerProtocol.parse (the request lives on in its frame)": (
        ws_server.ServerProtocol.parse,
        "8c4d10340de4d32f",
    ),
    "websockets Protocol.send_text": (ws_protocol.Protocol.send_text, "9268f18e580a5d67"),
    "websockets Protocol.send_binary": (ws_protocol.Protocol.send_binary, "a001f8bb8a651d9b"),
    "websockets Protocol.data_to_send": (ws_protocol.Protocol.data_to_send, "959589a5e74ef26f"),
    "websockets Headers.clear": (ws_datastructures.Headers.clear, "ed9cd417d1df6c71"),
}


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def test_installed_versions_are_the_pinned_ones() -> None:
    assert transport.installed_versions() == transport.PINNED, (
        "a library the hub's fast path reaches into was upgraded: see connectnow/realtime/transport.py"
    )


def test_pyproject_pins_the_same_versions() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^,;\s]+)", dep.strip())
        if found:
            pins[found.group(1).lower()] = found.group(2)
    assert {name: pins.get(name) for name in transport.PINNED} == transport.PINNED


def test_the_internals_relied_on_have_not_changed() -> None:
    changed = [what for what, (obj, expected) in FINGERPRINTS.items() if fingerprint(obj) != expected]
    assert not changed, f"library internals changed, re-check connectnow/realtime/transport.py: {changed}"


def test_the_shared_frame_is_what_uvicorn_would_write() -> None:
    """The frame written directly is byte for byte the one uvicorn's own send makes for the same text."""
    sio = socketio.AsyncServer(async_mode="asgi")
    data = {"text": "héllo ✓", "n": 1, "long": "x" * 70_000}  # both extended payload-length encodings
    for payload in (data, {"text": "x" * 200}):
        encoded = transport.Encoded(sio, "message:new", payload)
        protocol = ServerProtocol(state=State.OPEN)
        protocol.send_text(encoded.packet.encode().encode())
        assert b"".join(protocol.data_to_send()) == encoded.frame


def test_the_event_text_is_what_python_socketio_encodes() -> None:
    """The hub encodes events itself (one orjson call); the text is python-socketio's, byte for byte, and
    what orjson refuses still goes through the library's codec (the hub's OrjsonCodec)."""
    sio = socketio.AsyncServer(async_mode="asgi", json=OrjsonCodec)
    samples: list[Any] = [
        {"text": "héllo ✓ \u2028", "n": 1, "f": 1.5, "none": None, "list": [True, False, {"a": "b"}]},
        None,
        "plain",
        {"lone": "\ud800"},  # orjson refuses a lone surrogate; the standard library writes it escaped
    ]
    for data in samples:
        encoded = transport.Encoded(sio, "message:new", data)
        args = [] if data is None else [data]
        expected = sio.packet_class(sio_packet.EVENT, namespace="/", data=["message:new", *args]).encode()
        assert encoded.packet.data == expected
    with pytest.raises(TypeError):
        transport.Encoded(sio, "message:new", {"blob": b"\x00"})


def test_install_swaps_the_websocket_wrapper_for_one_server_only() -> None:
    fast, other = socketio.AsyncServer(async_mode="asgi"), socketio.AsyncServer(async_mode="asgi")
    Hub(fast)
    assert fast.eio._async["websocket"] is transport.DirectWebSocket
    assert other.eio._async["websocket"] is eio_asgi.WebSocket
    assert eio_asgi._async["websocket"] is eio_asgi.WebSocket


def test_the_attributes_read_on_the_hot_path_exist() -> None:
    sock = eio_socket.AsyncSocket(socketio.AsyncServer(async_mode="asgi").eio, "sid")
    for name in ("queue", "upgraded", "closing", "closed"):
        assert hasattr(sock, name), name
    assert sock.queue.qsize() == 0
    protocol_attrs = inspect.getsource(uvicorn_ws.WebSocketsSansIOProtocol.__init__)
    for name in ("self.writable", "self.close_sent", "self.disconnected", "self.conn", "self.transport"):
        assert name in protocol_attrs, name


def _queue_methods(module: Any) -> set[str]:
    return set(re.findall(r"self\.queue\.(\w+)", inspect.getsource(module)))


def test_the_queues_are_used_only_through_what_lean_queue_has() -> None:
    """engine.io's socket queue and uvicorn's receive queue are `LeanQueue`s: every method the libraries call
    on them must be one it implements."""
    lean = {name for name in dir(transport.LeanQueue) if not name.startswith("_")}
    assert _queue_methods(eio_socket) <= lean, _queue_methods(eio_socket) - lean
    assert _queue_methods(uvicorn_ws) <= lean, _queue_methods(uvicorn_ws) - lean


def test_uvicorn_uses_its_writable_flag_only_through_what_lean_event_has() -> None:
    used = set(re.findall(r"self\.writable\.(\w+)", inspect.getsource(uvicorn_ws)))
    lean = {name for name in dir(transport.LeanEvent) if not name.startswith("_")}
    assert used and used <= lean, used - lean


def test_install_makes_lean_sockets_and_queues() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    library_connect = sio.eio.handlers["connect"]
    Hub(sio)
    assert isinstance(sio.eio.create_queue(), transport.LeanQueue)
    assert sio.eio.handlers["connect"] is not library_connect  # wrapped: sockets become LeanSockets
    assert isinstance(sio.eio.cn_ping_wheel, transport.PingWheel)
    assert sio.eio.cn_ping_wheel.interval == sio.eio.ping_interval
