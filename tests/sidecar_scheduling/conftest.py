"""Fixtures for the scheduling sidecar: its services on each storage adapter, users, actors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.identity import ClientInfo, Principal
from connectnow.services.scheduling import SchedulingServices, build_scheduling
from connectnow.services.scheduling.access import Actor
from connectnow.store.port import DocumentStore
from models.users import UserRecord
from tests.conftest import make_settings

MakeActor = Callable[..., Awaitable[Actor]]


def at(text: str) -> datetime:
    """'2027-01-05 09:00' in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def sched_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, reminder_minutes_before=60)


@pytest.fixture
def sch(store: DocumentStore, sched_settings: Settings) -> SchedulingServices:
    return build_scheduling(store, sched_settings, channels=[])


@pytest.fixture
def make_actor(store: DocumentStore) -> MakeActor:
    async def make(name: str | None = None, *, admin: bool = False, ip: str = "203.0.113.7") -> Actor:
        now = utcnow()
        name = name or f"u{new_id()[-8:]}"
        user = UserRecord(
            id=new_id(),
            email=f"{name}@example.com",
            email_lower=f"{name}@example.com",
            username=name,
            username_lower=name.lower(),
            display_name=name.title(),
            is_admin=admin,
            created_at=now,
            updated_at=now,
        )
        await store.collection("users").insert_one(user.to_doc())
        return Actor(Principal(user=user), ClientInfo(user_agent="pytest-agent/1.0", ip_address=ip))

    return make


def booking_body(host: Actor, start: str, end: str, **extra: Any) -> dict[str, Any]:
    """A BookingCreate payload (camelCase, as clients send it)."""
    body: dict[str, Any] = {
        "userId": host.user_id,
        "eventTypeId": 7,
        "title": "Pastoral conversation",
        "startTime": f"{start.replace(' ', 'T')}:00Z",
        "endTime": f"{end.replace(' ', 'T')}:00Z",
    }
    body.update(extra)
    return body
