"""Fixtures for the broadcasts sidecar: real users, a real hub, and the real services on both adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import socketio

from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.identity import Principal
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub
from connectnow.repositories.accounts import UserRepository
from connectnow.services.broadcasts.wiring import Broadcasts, build_broadcasts
from connectnow.store.port import DocumentStore
from models.users import UserRecord
from tests.conftest import make_settings
from tests.sidecar_broadcasts.receiver import Receiver
from tests.sidecar_broadcasts.workers import running_receiver

MakeUser = Callable[..., Coroutine[Any, Any, Principal]]


class RecordingHub(Hub):
    """The real hub (in-process broker, real Socket.IO server); it also keeps what it emitted, so service
    tests can check which events left for which room."""

    def __init__(self) -> None:
        super().__init__(socketio.AsyncServer(async_mode="asgi"))
        self.emitted: list[tuple[str, Any, str]] = []

    async def emit(self, event: str, data: Any, *, room: str, skip_sid: str | None = None) -> None:
        await super().emit(event, data, room=room, skip_sid=skip_sid)
        self.emitted.append((event, data, room))


@pytest.fixture
def bx_settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        broadcast_webhook_allow_private=True,
        broadcast_retry_base_seconds=0.05,
        broadcast_retry_cap_seconds=0.2,
        broadcast_webhook_timeout_seconds=0.5,
        broadcast_poll_seconds=0.05,
        broadcast_lease_seconds=1.0,
    )


@pytest.fixture
async def hub() -> RecordingHub:
    recording = RecordingHub()
    await recording.attach(MemoryBroker())
    return recording


@pytest.fixture
async def bx(store: DocumentStore, bx_settings: Settings, hub: RecordingHub) -> AsyncIterator[Broadcasts]:
    built = build_broadcasts(store, bx_settings, hub)
    try:
        yield built
    finally:
        await built.client.aclose()


@pytest.fixture
def make_user(store: DocumentStore) -> MakeUser:
    users = UserRepository(store)

    async def make(name: str | None = None, *, admin: bool = False) -> Principal:
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
        await users.insert(record)
        return Principal(user=record, session_id=new_id())

    return make


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local webhook receiver (`tests/sidecar_broadcasts/receiver.py`) for the module's deliveries."""
    async with running_receiver() as hook:
        yield hook
