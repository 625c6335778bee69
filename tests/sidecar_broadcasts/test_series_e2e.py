"""Recurring broadcasts end to end: two workers on one SQLite file with Redis race to turn each occurrence into
a message and send it; every occurrence reaches the webhook exactly once. Pause, resume and end over REST.

Occurrences are 2 s apart here (`broadcast_series_min_interval_seconds=1` in these servers only; production
refuses anything under an hour) and every scheduler polls every 0.2 s, so both workers claim constantly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectnow.clock import utcnow
from tests.sidecar_broadcasts.receiver import Receiver
from tests.sidecar_broadcasts.test_on_time import contact_with_webhook
from tests.sidecar_broadcasts.workers import two_workers_on
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1"
FAST = {
    "broadcast_poll_seconds": "0.2",
    "broadcast_series_lead_seconds": "0",
    "broadcast_series_min_interval_seconds": "1",
    "broadcast_webhook_allow_private": "true",
    "broadcast_webhook_timeout_seconds": "2",
}


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    with two_workers_on(tmp_path, "cnseries", FAST) as pair:
        yield pair


def local_utc(seconds: float) -> str:
    """A local time (no offset) in UTC, `seconds` from now, whole seconds."""
    return (utcnow() + timedelta(seconds=seconds)).replace(microsecond=0, tzinfo=None).isoformat()


async def start_series(
    http: httpx.AsyncClient, auth: dict[str, str], contact_id: str, rule: str, text: str
) -> dict[str, Any]:
    body = {"target": {"kind": "contact", "contactId": contact_id}, "message": text, "rrule": rule,
            "startAt": local_utc(3), "timeZone": "UTC"}  # fmt: skip
    made = await http.post(f"{API}/broadcast-series", json=body, headers=auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def until(check: Any, timeout: float = 60.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("condition never held")


def texts(receiver: Receiver, text: str) -> int:
    return sum(1 for r in receiver.answered if r.json["text"] == text)


async def test_each_occurrence_is_sent_once_with_two_workers_racing(
    two_workers: tuple[LiveServer, LiveServer], receiver: Receiver
) -> None:
    a, b = two_workers
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=15.0) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=15.0) as on_b,
    ):
        auth, cid = await contact_with_webhook(on_a, receiver)
        series = await start_series(on_a, auth, cid, "FREQ=SECONDLY;INTERVAL=2;COUNT=4", "weekly notice")
        assert series["status"] == "active" and series["nextOccurrenceAt"] is not None
        path = f"{API}/broadcast-series/{series['id']}"

        async def ended() -> Any:
            got = (await on_b.get(path, headers=auth)).json()
            return got if got["status"] == "ended" else None

        done = await until(ended)
        assert (done["occurrences"], done["skipped"], done["nextOccurrenceAt"]) == (4, 0, None)

        async def all_sent() -> Any:
            rows = (await on_a.get(f"{path}/occurrences", headers=auth)).json()
            return rows if len(rows) == 4 and all(r["status"] == "sent" for r in rows) else None

        rows = await until(all_sent)
        assert len({r["scheduledFor"] for r in rows}) == 4 and all(r["seriesId"] == series["id"] for r in rows)
        await asyncio.sleep(1.0)  # a duplicate, if any, would have been sent by now (both poll every 0.2 s)
        assert texts(receiver, "weekly notice") == 4


async def test_pause_resume_and_end(tmp_path: Path, receiver: Receiver) -> None:
    server = LiveServer.start(tmp_path, **FAST)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15.0) as http:
            auth, cid = await contact_with_webhook(http, receiver)
            series = await start_series(http, auth, cid, "FREQ=SECONDLY;INTERVAL=2;COUNT=60", "choir")
            path = f"{API}/broadcast-series/{series['id']}"

            async def sent_once() -> bool:
                return texts(receiver, "choir") >= 1

            await until(sent_once)
            paused = await http.post(f"{path}/pause", headers=auth)
            assert paused.status_code == 200 and paused.json()["status"] == "paused"
            during = texts(receiver, "choir")
            await asyncio.sleep(4.5)  # two occurrences fall in the pause
            assert texts(receiver, "choir") == during

            resumed = (await http.post(f"{path}/resume", headers=auth)).json()
            assert resumed["status"] == "active"
            assert resumed["nextOccurrenceAt"] > utcnow().isoformat()[:19]  # the next one from now, not the missed

            async def sent_again() -> bool:
                return texts(receiver, "choir") > during

            await until(sent_again)
            ended = await http.post(f"{path}/end", headers=auth)
            assert ended.json()["status"] == "ended" and ended.json()["endedReason"] == "ended by its owner"
            after = texts(receiver, "choir")
            await asyncio.sleep(4.5)
            assert texts(receiver, "choir") == after
            again = await http.post(f"{path}/resume", headers=auth)
            assert again.status_code == 409 and again.json()["error"]["code"] == "SERIES_ENDED"
            rows = (await http.get(f"{path}/occurrences", headers=auth)).json()
            assert {r["status"] for r in rows} <= {"sent", "cancelled"}

            # Someone else's series does not exist for them; an unbounded rule is refused with its reason.
            stranger, _ = await contact_with_webhook(http, receiver)
            assert (await http.get(path, headers=stranger)).status_code == 404
            assert (await http.post(f"{path}/pause", headers=stranger)).status_code == 404
            bad = {"target": {"kind": "contact", "contactId": cid}, "message": "x", "rrule": "FREQ=SECONDLY",
                   "startAt": local_utc(60), "timeZone": "UTC"}  # fmt: skip
            refused = await http.post(f"{API}/broadcast-series", json=bad, headers=auth)
            assert refused.status_code == 422 and refused.json()["error"]["details"]["reason"] == "tooMany"
    finally:
        server.stop()
