"""Hub contract (spine extension by issue 3B): `emit(..., skip_user=...)` leaves out every socket of a user.

Runs the real Hub over the real in-process broker and python-socketio's real room manager; only the last
step, writing packets to engine.io transports, is captured instead of sent (there are no transports here).
"""

from __future__ import annotations

from typing import Any

import socketio

from connectnow.clock import new_id, utcnow
from connectnow.identity import Principal
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub
from models.users import UserRecord


def principal(name: str) -> Principal:
    now = utcnow()
    user = UserRecord(
        id=new_id(),
        email=f"{name}@example.com",
        email_lower=f"{name}@example.com",
        username=name,
        username_lower=name,
        display_name=name,
        created_at=now,
        updated_at=now,
    )
    return Principal(user=user, session_id=new_id())


class CapturingServer(socketio.AsyncServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(async_mode="asgi")
        self.delivered: list[str] = []  # engine.io ids that were sent a packet

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        self.delivered.append(eio_sid)

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        self.delivered.append(eio_sid)


async def connected(sio: CapturingServer, hub: Hub, who: Principal, eio_sid: str) -> str:
    sid: str = await sio.manager.connect(eio_sid, "/")
    await hub.register(sid, who)
    await sio.enter_room(sid, "channel:x")
    return sid


async def test_skip_user_leaves_out_all_of_that_users_sockets() -> None:
    sio = CapturingServer()
    hub = Hub(sio)
    await hub.attach(MemoryBroker())
    alice, bob = principal("alice"), principal("bob")
    await connected(sio, hub, alice, "eio-alice-phone")
    await connected(sio, hub, alice, "eio-alice-laptop")
    await connected(sio, hub, bob, "eio-bob")

    await hub.emit("typing:started", {"userId": alice.user_id}, room="channel:x", skip_user=alice.user_id)
    await _settle()
    assert sio.delivered == ["eio-bob"]

    sio.delivered.clear()
    await hub.emit("message:new", {"n": 1}, room="channel:x")  # without skip_user: unchanged behaviour
    await _settle()
    assert sorted(sio.delivered) == ["eio-alice-laptop", "eio-alice-phone", "eio-bob"]


async def test_skip_user_combines_with_skip_sid() -> None:
    sio = CapturingServer()
    hub = Hub(sio)
    await hub.attach(MemoryBroker())
    alice, bob, carol = principal("alice"), principal("bob"), principal("carol")
    await connected(sio, hub, alice, "eio-alice")
    bob_sid = await connected(sio, hub, bob, "eio-bob")
    await connected(sio, hub, carol, "eio-carol")
    await hub.emit("x", {}, room="channel:x", skip_sid=bob_sid, skip_user=alice.user_id)
    await _settle()
    assert sio.delivered == ["eio-carol"]


async def _settle() -> None:
    import asyncio

    # python-socketio sends to each participant in its own task.
    for _ in range(5):
        await asyncio.sleep(0)
