"""Direct-message services on each storage adapter, with the real Hub (its emits also recorded).

Import the `world` fixture where needed: `from tests.direct.world import world`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio

from connectnow.node import Services
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub, to_wire
from connectnow.realtime.ratelimit import RateRules
from connectnow.realtime.ratelimit_memory import MemoryRateLimiter
from connectnow.services.attachments import AttachmentService
from connectnow.services.direct import DirectService
from connectnow.store.port import DocumentStore
from tests.conftest import make_settings
from tests.support.services import built_services


class RecordingHub(Hub):
    """The real hub (a real Socket.IO server and the in-process broker) that remembers what it sent."""

    def __init__(self) -> None:
        super().__init__(socketio.AsyncServer(async_mode="asgi"))
        self.sent: list[tuple[str, str, Any, str | None]] = []
        self.moves: list[tuple[str, str, str]] = []

    async def emit(
        self, event: str, data: Any, *, room: str, skip_sid: str | None = None, skip_user: str | None = None
    ) -> None:
        self.sent.append((event, room, to_wire(data), skip_user))
        await super().emit(event, data, room=room, skip_sid=skip_sid, skip_user=skip_user)

    async def join_user(self, user_id: str, room: str) -> None:
        self.moves.append(("join", user_id, room))
        await super().join_user(user_id, room)

    def events(self, name: str, room: str | None = None) -> list[Any]:
        return [d for e, r, d, _ in self.sent if e == name and (room is None or r == room)]


@dataclass
class DirectWorld:
    store: DocumentStore
    hub: RecordingHub
    direct: DirectService
    attachments: AttachmentService
    limiter: MemoryRateLimiter
    svc: Services


@pytest.fixture
async def world(store: DocumentStore, tmp_path: Path) -> AsyncIterator[DirectWorld]:
    # Direct-message rules alone: any two users may talk (shared workspaces are tested end to end).
    settings = make_settings(
        tmp_path, rate_send_burst=1000, rate_upload_burst=100, message_max_chars=100, dm_require_shared_workspace=False
    )
    limiter = MemoryRateLimiter(RateRules.from_settings(settings))
    hub = RecordingHub()
    broker = MemoryBroker()
    await hub.attach(broker)
    try:
        async with built_services(store, settings, hub, limiter=limiter) as svc:
            yield DirectWorld(store, hub, svc.direct, svc.attachments, limiter, svc)
    finally:
        await broker.stop()
