"""Calendar sidecar on each storage adapter: the real services, the real chat core for reminders, a real hub."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio

from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.identity import Principal
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub, to_wire
from connectnow.repositories.accounts import UserRepository
from connectnow.security import Secrets
from connectnow.services.calendar import CalendarSuite, build_calendar, chat_poster
from connectnow.services.chat_wiring import wire_chat
from connectnow.store.port import DocumentStore
from models.calendar import CalendarCreate
from models.users import UserRecord


class RecordingHub(Hub):
    """The real hub (real Socket.IO server, in-process broker) that also remembers what it sent."""

    def __init__(self) -> None:
        super().__init__(socketio.AsyncServer(async_mode="asgi"))
        self.sent: list[tuple[str, str, Any]] = []

    async def emit(self, event: str, data: Any, *, room: str, skip_sid: str | None = None) -> None:
        self.sent.append((event, room, to_wire(data)))
        await super().emit(event, data, room=room, skip_sid=skip_sid)


@dataclass
class Cal:
    store: DocumentStore
    hub: RecordingHub
    suite: CalendarSuite
    chat: Any
    export_dir: Path

    async def user(self, name: str | None = None, *, admin: bool = False) -> Principal:
        name = name or f"u{new_id()[-8:]}"
        now = utcnow()
        record = UserRecord(
            id=new_id(),
            email=f"{name}@example.com",
            email_lower=f"{name}@example.com",
            username=name,
            username_lower=name,
            display_name=name.title(),
            is_admin=admin,
            created_at=now,
            updated_at=now,
        )
        await UserRepository(self.store).insert(record)
        return Principal(user=record, session_id=new_id())

    async def calendar(self, principal: Principal, name: str = "Work", **extra: Any) -> str:
        created = await self.suite.calendars.create(principal, CalendarCreate.model_validate({"name": name, **extra}))
        return created.id

    async def count(self, collection: str, flt: dict[str, Any] | None = None) -> int:
        return await self.store.collection(collection).count(flt or {})


@pytest.fixture
async def cal(store: DocumentStore, settings: Settings, tmp_path: Path) -> AsyncIterator[Cal]:
    hub = RecordingHub()
    broker = MemoryBroker()
    await hub.attach(broker)
    chat = types.SimpleNamespace()
    wire_chat(chat, store, settings, hub, None)  # type: ignore[arg-type]
    suite = build_calendar(
        store,
        Secrets(settings),
        hub,
        chat_poster(store, chat.messages),
        export_dir=tmp_path / "exports",
        public_url="https://cn.example",
        max_ics_bytes=64 * 1024,
        poll_seconds=0.05,
    )
    try:
        yield Cal(store=store, hub=hub, suite=suite, chat=chat, export_dir=tmp_path / "exports")
    finally:
        await broker.stop()
