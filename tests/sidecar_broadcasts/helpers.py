"""Helpers for scheduling tests: build inputs, let time pass, drain the scheduler."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from connectnow.clock import utcnow
from connectnow.identity import Principal
from connectnow.services.broadcasts.wiring import Broadcasts
from models.broadcasts import ScheduledCreate, ScheduledPublic, WebhookSet
from models.contacts import ContactCreate, GroupCreate, MembersChange

TERMINAL = {"sent", "failed", "cancelled"}


def soon(seconds: float = 60) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat()


def schedule_input(target: dict[str, Any], when: str | None = None, **extra: Any) -> ScheduledCreate:
    body = {"target": target, "scheduledFor": when or soon(), **extra}
    if "message" not in body and "templateId" not in body:
        body["message"] = "Hello {{firstName}}"
    return ScheduledCreate.model_validate(body)


async def add_contact(bx: Broadcasts, who: Principal, name: str, phone: str) -> str:
    data = ContactCreate.model_validate({"name": name, "phoneNumber": phone})
    return (await bx.contacts.create(who, data)).contact.id


async def add_group(bx: Broadcasts, who: Principal, contact_ids: list[str]) -> str:
    group = await bx.groups.create(who, GroupCreate.model_validate({"name": "G", "color": "#123456"}))
    if contact_ids:
        await bx.groups.add_members(who, group.id, MembersChange.model_validate({"contactIds": contact_ids}))
    return group.id


async def set_webhook(bx: Broadcasts, who: Principal, url: str) -> bytes:
    """Point the user's webhook at `url`; returns the signing secret."""
    await bx.webhooks.set(who, WebhookSet.model_validate({"url": url}))
    target = await bx.webhooks.target_for(who.user_id)
    assert target is not None
    return target.secret


async def make_due(bx: Broadcasts, scheduled_id: str, *, ago: timedelta = timedelta(milliseconds=1)) -> datetime:
    """Let time pass: the message was due `ago` (the scheduler measures lateness from this)."""
    when = utcnow() - ago
    await bx.schedule.scheduled.update({"id": scheduled_id}, {"$set": {"scheduledFor": when}})
    await bx.schedule.deliveries.update_many(
        {"sourceId": scheduled_id, "status": "pending"}, {"$set": {"scheduledFor": when, "dueAt": when}}
    )
    return when


async def drain(bx: Broadcasts, who: Principal, scheduled_id: str, *, timeout: float = 10.0) -> ScheduledPublic:
    """Run the scheduler until the message reaches a final status (retries wait for their backoff)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await bx.engine.worker.run_once()
        current = await bx.schedule.get(who, scheduled_id)
        if current.status.value in TERMINAL:
            return current
        await asyncio.sleep(0.02)
    raise AssertionError(f"scheduled message {scheduled_id} still {current.status} after {timeout}s")
