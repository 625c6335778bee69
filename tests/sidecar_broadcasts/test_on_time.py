"""Scheduled delivery on time: the scheduler wakes at the next due time, on a new or moved schedule, and on
every worker (Redis), not at its next poll. The poll interval here is 60 s, so a message that arrives within
seconds of its due time was sent by a woken scheduler; how late it is lives in the benchmark (BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectnow.clock import utcnow
from tests.sidecar_broadcasts.receiver import Receiver
from tests.sidecar_broadcasts.workers import two_workers_on
from tests.support.clients import bearer, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1"
POLL = "60"  # far longer than any wait below: only a wake-up can deliver in time
WELL_BEFORE_POLL = 20.0  # seconds: generous for a loaded 2-core machine, a third of the poll interval


def settings(**extra: str) -> dict[str, str]:
    return {
        "broadcast_poll_seconds": POLL,
        "broadcast_webhook_allow_private": "true",
        "broadcast_webhook_timeout_seconds": "2",
        **extra,
    }


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    with two_workers_on(tmp_path, "cnwake", settings()) as pair:
        yield pair


def at(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat()


async def contact_with_webhook(http: httpx.AsyncClient, receiver: Receiver) -> tuple[dict[str, str], str]:
    """A fresh user with a contact and a webhook pointing at the receiver: (auth headers, contact id)."""
    data = await register(http, unique_name("w"))
    auth = bearer(data["accessToken"])
    made = await http.post(f"{API}/contacts", json={"name": "Ann Lee", "phoneNumber": "+12025550140"}, headers=auth)
    hook = await http.put(f"{API}/broadcasts/webhook", json={"url": receiver.url("/ok")}, headers=auth)
    assert made.status_code == 201 and hook.status_code == 200, (made.text, hook.text)
    return auth, made.json()["contact"]["id"]


async def schedule(http: httpx.AsyncClient, auth: dict[str, str], contact_id: str, seconds: float) -> str:
    body = {"target": {"kind": "contact", "contactId": contact_id}, "message": "on time", "scheduledFor": at(seconds)}
    made = await http.post(f"{API}/scheduled", json=body, headers=auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def wait_sent(http: httpx.AsyncClient, auth: dict[str, str], scheduled_id: str) -> dict[str, Any]:
    """The delivery once sent; fails if it is still pending well before the poll would have sent it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WELL_BEFORE_POLL + 10
    while loop.time() < deadline:
        got = await http.get(f"{API}/scheduled/{scheduled_id}/deliveries", headers=auth)
        if got.status_code == 200 and got.json() and got.json()[0]["status"] == "sent":
            return dict(got.json()[0])
        await asyncio.sleep(0.1)
    raise AssertionError(f"{scheduled_id} not sent: {got.text}")


def lateness(delivery: dict[str, Any]) -> float:
    sent = datetime.fromisoformat(delivery["actualDeliveryTime"])
    return (sent - datetime.fromisoformat(delivery["scheduledFor"])).total_seconds()


async def test_new_and_moved_schedules_wake_the_scheduler(tmp_path: Path, receiver: Receiver) -> None:
    server = LiveServer.start(tmp_path, **settings())
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15.0) as http:
            auth, cid = await contact_with_webhook(http, receiver)
            # Two schedules, the later first: the scheduler must wake for the earlier one it learns of second.
            later = await schedule(http, auth, cid, 4.0)
            sooner = await schedule(http, auth, cid, 2.0)
            moved = await schedule(http, auth, cid, 3600.0)
            patched = await http.patch(f"{API}/scheduled/{moved}", json={"scheduledFor": at(3.0)}, headers=auth)
            assert patched.status_code == 200, patched.text
            for sid in (sooner, later, moved):
                assert 0 <= lateness(await wait_sent(http, auth, sid)) < WELL_BEFORE_POLL
            assert len(receiver.answered) == 3
    finally:
        server.stop()


async def test_a_schedule_written_on_one_worker_wakes_the_other(
    two_workers: tuple[LiveServer, LiveServer], receiver: Receiver
) -> None:
    """Worker A takes the schedule and is killed at once; B, told through Redis, sends it on time."""
    a, b = two_workers
    async with httpx.AsyncClient(base_url=a.base_url, timeout=15.0) as on_a:
        auth, cid = await contact_with_webhook(on_a, receiver)
        # B looks at the store now and sleeps a full poll interval: nothing is pending yet.
        sid = await schedule(on_a, auth, cid, 3.0)
    a.stop(signal.SIGKILL)
    async with httpx.AsyncClient(base_url=b.base_url, timeout=15.0) as on_b:
        delivery = await wait_sent(on_b, auth, sid)
    assert 0 <= lateness(delivery) < WELL_BEFORE_POLL
    assert [r.json["text"] for r in receiver.answered] == ["on time"]
