"""Calendar sidecar on each storage adapter: the real services, the real chat core for reminders, a real hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio

from connectnow.clock import new_id, utcnow
from connectnow.identity import Principal
from connectnow.node import Services
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub, to_wire
from connectnow.repositories.accounts import UserRepository
from connectnow.services.calendar import CalendarSuite
from connectnow.store.port import DocumentStore
from models.calendar import CalendarCreate
from models.users import UserRecord
from tests.conftest import make_settings
from tests.support.services import built_services, unlimited


class RecordingHub(Hub):
    """The real hub (real Socket.IO server, in-process broker) that also remembers what it sent."""

    def __init__(self) -> None:
        super().__init__(socketio.AsyncServer(async_mode="asgi"))
        self.sent: list[tuple[str, str, Any]] = []

    async def emit(self, event: str, data: Any, *, room: str | list[str], skip_sid: str | None = None) -> None:
        for one in [room] if isinstance(room, str) else room:
            self.sent.append((event, one, to_wire(data)))
        await super().emit(event, data, room=room, skip_sid=skip_sid)


@dataclass
class Cal:
    store: DocumentStore
    hub: RecordingHub
    suite: CalendarSuite
    chat: Services
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
async def cal(store: DocumentStore, tmp_path: Path) -> AsyncIterator[Cal]:
    settings = make_settings(
        tmp_path, public_url="https://cn.example", calendar_ics_max_bytes=64 * 1024, calendar_poll_seconds=0.05
    )
    hub = RecordingHub()
    broker = MemoryBroker()
    await hub.attach(broker)
    try:
        async with built_services(store, settings, hub, limiter=unlimited()) as chat:
            export_dir = settings.data_dir / "exports"
            yield Cal(store=store, hub=hub, suite=chat.calendar, chat=chat, export_dir=export_dir)
    finally:
        await broker.stop()
