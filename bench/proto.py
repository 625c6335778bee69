"""The lean Engine.IO v4 / Socket.IO v5 text protocol the load generators speak, and the benchmark payload.

python-socketio's AsyncClient costs far more CPU per socket than the server under test, so the load
generators speak the wire protocol directly: "0{...}" open, "40{auth}" connect, "42[...]" event,
"42<id>[...]" event with an ack, "43<id>[...]" ack, "2"/"3" ping/pong.

A benchmark message's content is `BNCH|<step>|<intended send time>|` padded to `MESSAGE_BYTES`; receivers
find it with one `str.find` instead of parsing the whole frame (the clients must stay cheaper than the server).
"""

from __future__ import annotations

import orjson

MESSAGE_BYTES = 200  # the message size (content characters, all ASCII)
MARKER = "BNCH|"
NEW_MESSAGE = '42["message:new"'  # the one event every server under test sends per delivery


def content(step: int, intended: float) -> str:
    head = f"{MARKER}{step}|{intended:.6f}|"
    return head + "x" * max(0, MESSAGE_BYTES - len(head))


def parse_marker(frame: str) -> tuple[int, float] | None:
    """(step, intended send time) of the benchmark message in a frame, or None."""
    at = frame.find(MARKER)
    if at < 0:
        return None
    parts = frame[at + len(MARKER) : at + len(MARKER) + 40].split("|", 2)
    try:
        return int(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        return None


def sio_connect(auth: dict[str, str]) -> str:
    return "40" + orjson.dumps(auth).decode()


def sio_event(event: str, data: object, ack_id: int | None = None) -> str:
    body = orjson.dumps([event, data]).decode()
    return f"42{ack_id}{body}" if ack_id is not None else "42" + body


def sio_ack_id(frame: str) -> int | None:
    """The id of an ack frame "43<id>[...]"."""
    end = frame.find("[", 2)
    try:
        return int(frame[2:end])
    except ValueError:
        return None
