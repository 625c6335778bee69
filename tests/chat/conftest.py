"""Chat-core services on each storage adapter, with a real Hub whose emits are also recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio

from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.identity import Principal
from connectnow.node import Services
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub, to_wire
from connectnow.store.port import DocumentStore
from models.users import UserRecord
from tests.support.services import built_services, unlimited


class RecordingHub(Hub):
    """The real hub (real Socket.IO server and in-process broker) that also remembers what it sent."""

    def __init__(self) -> None:
        super().__init__(socketio.AsyncServer(async_mode="asgi"))
        self.sent: list[tuple[str, str, Any]] = []
        self.moves: list[tuple[str, str, str]] = []

    async def emit(
        self, event: str, data: Any, *, room: str | list[str], skip_sid: str | None = None, skip_user: str | None = None
    ) -> None:
        for one in [room] if isinstance(room, str) else room:
            self.sent.append((event, one, to_wire(data)))
        await super().emit(event, data, room=room, skip_sid=skip_sid, skip_user=skip_user)

    async def join_user(self, user_id: str, room: str) -> None:
        self.moves.append(("join", user_id, room))
        await super().join_user(user_id, room)

    async def leave_user(self, user_id: str, room: str) -> None:
        self.moves.append(("leave", user_id, room))
        await super().leave_user(user_id, room)

    def events(self, name: str, room: str | None = None) -> list[Any]:
        return [d for e, r, d in self.sent if e == name and (room is None or r == room)]


@dataclass
class Chat:
    store: DocumentStore
    hub: RecordingHub
    svc: Services
    users: dict[str, Principal] = field(default_factory=dict)

    async def user(self, name: str | None = None, *, bot: bool = False) -> Principal:
        name = name or f"u{new_id()[-8:]}"
        now = utcnow()
        record = UserRecord(
            id=new_id(),
            email=f"{name}@example.com",
            email_lower=f"{name}@example.com".lower(),
            username=name,
            username_lower=name.lower(),
            display_name=name.title(),
            is_bot=bot,
            created_at=now,
            updated_at=now,
        )
        await self.svc.chat.users.insert(record)
        principal = Principal(user=record, session_id=new_id())
        self.users[name] = principal
        return principal

    async def count(self, collection: str) -> int:
        return await self.store.collection(collection).count({})


@pytest.fixture
async def chat(store: DocumentStore, settings: Settings) -> AsyncIterator[Chat]:
    hub = RecordingHub()
    broker = MemoryBroker()
    await hub.attach(broker)
    try:
        async with built_services(store, settings, hub, limiter=unlimited()) as services:
            yield Chat(store=store, hub=hub, svc=services)
    finally:
        await broker.stop()
