"""Calendars subscribed to an ICS URL, against a live server and a local HTTP server (aiohttp) that serves
the feed: the first fetch, a conditional GET answered 304, a changed feed (events gone are pruned), a broken
feed refused whole, an oversized one, HTTP errors and redirects recorded on the subscription; read-only to its
owner, invisible to others. Loopback is allowed only through `calendar_subscription_allow_private` in this
server; the production default refuses it (the last test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from connectnow.errors import AppError
from connectnow.services.calendar.subscriptions import FetchPolicy, fetch_ics, next_refresh_delay
from tests.support.clients import bearer, register
from tests.support.live_server import LiveServer, running, server_http

pytestmark = pytest.mark.e2e
API = "/api/v1"
MAX_BYTES = 20_000
RANGE = {"timeMin": "2027-01-01T00:00:00Z", "timeMax": "2027-12-31T00:00:00Z"}


def vevent(uid: str, title: str, day: int) -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\nSUMMARY:{title}\r\n"
            f"DTSTART:202706{day:02d}T100000Z\r\nDTEND:202706{day:02d}T110000Z\r\nEND:VEVENT\r\n")  # fmt: skip


def feed(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n").encode()


@dataclass
class FeedServer:
    body: bytes = b""
    etag: str = '"v1"'
    status: int = 200
    seen_if_none_match: list[str | None] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        asked = request.headers.get("If-None-Match")
        self.seen_if_none_match.append(asked)
        if self.status in (301, 302):
            raise web.HTTPFound("http://127.0.0.1:1/elsewhere.ics")
        if self.status != 200:
            return web.Response(status=self.status, text="nope")
        if asked == self.etag:
            return web.Response(status=304, headers={"ETag": self.etag})
        return web.Response(body=self.body, content_type="text/calendar", headers={"ETag": self.etag})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/cal.ics", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}/cal.ics"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running(
        tmp_path_factory.mktemp("subs"),
        calendar_subscription_allow_private="true",  # this test's feed is on loopback
        calendar_subscription_min_interval_seconds="60",
        calendar_ics_max_bytes=str(MAX_BYTES),
    ) as live:
        yield live


http = server_http(timeout=15.0)


@pytest.fixture
async def feed_server() -> AsyncIterator[tuple[FeedServer, str]]:
    served = FeedServer(body=feed(vevent("a@x", "Choir", 1), vevent("b@x", "Elders", 2)))
    url = await served.start()
    try:
        yield served, url
    finally:
        assert served.runner is not None
        await served.runner.cleanup()


async def fetched(http: httpx.AsyncClient, path: str, auth: dict[str, str], after: str | None) -> dict[str, Any]:
    """The subscription once a fetch newer than `after` is recorded."""
    for _ in range(300):
        got = (await http.get(path, headers=auth)).json()
        if got.get("lastFetchedAt") and got["lastFetchedAt"] != after:
            return dict(got)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no new fetch: {got}")


async def titles(http: httpx.AsyncClient, cid: str, auth: dict[str, str]) -> list[str]:
    got = await http.get(f"{API}/calendar-events", params={**RANGE, "calendarId": cid}, headers=auth)
    return sorted(i["title"] for i in got.json())


async def refresh(http: httpx.AsyncClient, path: str, auth: dict[str, str], before: dict[str, Any]) -> dict[str, Any]:
    assert (await http.post(f"{path}/refresh", headers=auth)).status_code == 200
    return await fetched(http, path, auth, before["lastFetchedAt"])


async def test_subscription_fetches_refreshes_and_records_errors(
    http: httpx.AsyncClient, feed_server: tuple[FeedServer, str]
) -> None:
    served, url = feed_server
    owner = bearer((await register(http))["accessToken"])
    made = await http.post(
        f"{API}/calendar-subscriptions",
        json={"url": url, "name": "Diocese", "refreshIntervalMinutes": 60},
        headers=owner,
    )
    assert made.status_code == 201, made.text
    sub = made.json()
    path, cid = f"{API}/calendar-subscriptions/{sub['id']}", sub["calendarId"]
    state = await fetched(http, path, owner, None)
    assert state["lastStatus"] == "updated" and state["lastError"] is None
    assert state["nextFetchAt"] > state["lastFetchedAt"]  # the next refresh is scheduled an interval later
    assert await titles(http, cid, owner) == ["Choir", "Elders"]
    calendar = (await http.get(f"{API}/calendars/{cid}", headers=owner)).json()
    assert calendar["canEdit"] is False
    write = {"calendarId": cid, "title": "Mine", "startTime": "2027-06-05T10:00:00Z", "endTime": "2027-06-05T11:00:00Z"}
    refused = await http.post(f"{API}/calendar-events", json=write, headers=owner)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "CALENDAR_READ_ONLY"

    # Unchanged: a conditional GET, answered 304.
    state = await refresh(http, path, owner, state)
    assert state["lastStatus"] == "notModified" and served.seen_if_none_match[-1] == '"v1"'

    # Changed: Elders left the feed, Choir moved on; the import prunes.
    served.body, served.etag = feed(vevent("a@x", "Choir (new time)", 3)), '"v2"'
    state = await refresh(http, path, owner, state)
    assert state["lastStatus"] == "updated"
    assert await titles(http, cid, owner) == ["Choir (new time)"]

    # Broken feed: refused whole, the calendar keeps what it had, the error is on the subscription.
    served.body, served.etag = (
        feed(vevent("c@x", "Good", 4), "BEGIN:VEVENT\r\nSUMMARY:No UID or times\r\nEND:VEVENT\r\n"),
        '"v3"',
    )
    state = await refresh(http, path, owner, state)
    assert (state["lastStatus"], state["lastErrorCode"], state["consecutiveFailures"]) == (
        "error",
        "ICS_IMPORT_REFUSED",
        1,
    )
    assert await titles(http, cid, owner) == ["Choir (new time)"]
    logs = (await http.get(f"{API}/calendars/{cid}/sync-logs", headers=owner)).json()
    assert {log["syncType"] for log in logs} == {"ics_subscription"} and any(log["status"] == "error" for log in logs)

    served.body, served.etag = feed(*(vevent(f"{i}@big", "x" * 200, 5) for i in range(200))), '"v4"'
    state = await refresh(http, path, owner, state)
    assert state["lastErrorCode"] == "ICS_TOO_LARGE"
    served.status = 500
    state = await refresh(http, path, owner, state)
    assert state["lastErrorCode"] == "SUBSCRIPTION_FETCH_FAILED" and "500" in state["lastError"]
    served.status = 302
    state = await refresh(http, path, owner, state)
    assert state["lastErrorCode"] == "SUBSCRIPTION_FETCH_FAILED" and state["consecutiveFailures"] == 4
    # Failures in a row back off: the fourth waits 8 intervals (60 minutes each), not one.
    waited = datetime.fromisoformat(state["nextFetchAt"]) - datetime.fromisoformat(state["lastFetchedAt"])
    assert timedelta(hours=8) - timedelta(seconds=5) <= waited <= timedelta(hours=8) + timedelta(seconds=5)

    # Only the owner sees it; unsubscribing removes its calendar.
    stranger = bearer((await register(http))["accessToken"])
    assert (await http.get(path, headers=stranger)).status_code == 404
    assert (await http.delete(path, headers=stranger)).status_code == 404
    assert (await http.delete(path, headers=owner)).status_code == 204
    assert (await http.get(f"{API}/calendars/{cid}", headers=owner)).status_code == 404


async def test_refusals_when_subscribing(http: httpx.AsyncClient, feed_server: tuple[FeedServer, str]) -> None:
    owner = bearer((await register(http))["accessToken"])
    too_often = {"url": feed_server[1], "name": "X", "refreshIntervalMinutes": 0}
    assert (await http.post(f"{API}/calendar-subscriptions", json=too_often, headers=owner)).status_code == 422
    not_http = {"url": "file:///etc/passwd", "name": "X"}
    assert (await http.post(f"{API}/calendar-subscriptions", json=not_http, headers=owner)).status_code == 422


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/cal.ics", "http://localhost/cal.ics", "http://[::ffff:10.0.0.1]/x", "http://169.254.169.254/"],
)
async def test_production_default_refuses_private_hosts(url: str) -> None:
    policy = FetchPolicy(min_interval_seconds=900, timeout_seconds=5, max_bytes=MAX_BYTES, allow_private=False)
    with pytest.raises(AppError) as refused:
        await fetch_ics(url, policy, None, None)
    assert refused.value.code == "CALENDAR_URL_FORBIDDEN"


def test_the_default_settings_do_not_allow_private_hosts(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    assert make_settings(tmp_path).calendar_subscription_allow_private is False


def test_failed_refreshes_back_off_to_at_most_a_day() -> None:
    hour = 3600
    assert [next_refresh_delay(hour, n) for n in range(6)] == [hour, hour, 2 * hour, 4 * hour, 8 * hour, 16 * hour]
    assert next_refresh_delay(hour, 6) == next_refresh_delay(hour, 10_000) == 24 * hour
    assert next_refresh_delay(2 * 24 * hour, 5) == 2 * 24 * hour  # an interval above the cap is kept
