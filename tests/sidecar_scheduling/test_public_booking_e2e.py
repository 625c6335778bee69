"""Issue 19 end to end against a real server: a host's public scheduling page, open slots that miss both
bookings and the host's calendar events, guest bookings answered with an ICS invitation and signed,
single-use cancel and reschedule links, and the per-address limit on the public writes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.clients import bearer, register, unique_name
from tests.support.live_server import LiveServer, running, server_http

pytestmark = pytest.mark.e2e
API = "/api/v1"
PUBLIC = f"{API}/public/scheduling"
DAY = "2027-03-01"  # a Monday
VISIT = {"id": 7, "slug": "visit", "title": "Pastoral visit", "durationMinutes": 60}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path / "srv", public_url="https://church.example") as live:
        yield live


http = server_http(timeout=10.0)


async def open_page(http: httpx.AsyncClient, username: str, **profile: Any) -> tuple[dict[str, str], str]:
    """A host with working hours 09:00-12:00 UTC, no buffer, and a public page."""
    host = await register(http)
    headers = bearer(host["accessToken"])
    policy = {"bufferTimeMinutes": 0, "timeZone": "UTC",
              "workingHours": {"start": "09:00", "end": "12:00", "timezone": "UTC"}}  # fmt: skip
    assert (await http.put(f"{API}/scheduling/policy", json=policy, headers=headers)).status_code == 200
    body = {"schedulingUsername": username, "eventTypes": [VISIT], **profile}
    saved = await http.put(f"{API}/scheduling/profile", json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    return headers, host["user"]["id"]


def slot_starts(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [s["start"][11:16] for s in answer.json()["slots"]]


async def test_profile_page_slots_booking_and_signed_links(http: httpx.AsyncClient) -> None:
    username = unique_name("pastor").lower()
    h, host_id = await open_page(http, username, churchName="Grace Chapel", role="pastor", calUserId=f"cal-{username}")
    profile = (await http.get(f"{API}/scheduling/profile", headers=h)).json()
    assert profile["schedulingLink"] == f"https://church.example{PUBLIC}/{username}"
    assert (profile["churchName"], profile["role"], profile["calUserId"]) == (
        "Grace Chapel",
        "pastor",
        f"cal-{username}",
    )

    # Seed 003: schedulingUsername and calUserId are unique; role is pastor or admin.
    other = bearer((await register(http))["accessToken"])
    taken = await http.put(f"{API}/scheduling/profile", json={"schedulingUsername": username}, headers=other)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "CONFLICT"
    same_cal = await http.put(f"{API}/scheduling/profile", json={"calUserId": f"cal-{username}"}, headers=other)
    assert same_cal.status_code == 409
    bad_role = await http.put(f"{API}/scheduling/profile", json={"role": "bishop"}, headers=other)
    assert bad_role.status_code == 422

    page = await http.get(f"{PUBLIC}/{username}")  # no Authorization header anywhere below
    assert page.status_code == 200, page.text
    shown = page.json()
    assert shown["churchName"] == "Grace Chapel" and shown["eventTypes"][0]["slug"] == "visit"
    assert "userId" not in shown and "email" not in str(shown)
    assert (await http.get(f"{PUBLIC}/nobody-{username}")).status_code == 404

    # The host's own calendar event at 10:00-11:00 is busy time.
    cal = await http.post(f"{API}/calendars", json={"name": "Mine", "color": "#112233"}, headers=h)
    assert cal.status_code == 201, cal.text
    event = {"calendarId": cal.json()["id"], "title": "Elders", "startTime": f"{DAY}T10:00:00",
             "endTime": f"{DAY}T11:00:00", "timeZone": "UTC"}  # fmt: skip
    assert (await http.post(f"{API}/calendar-events", json=event, headers=h)).status_code == 201
    window = {"from": f"{DAY}T00:00:00Z", "to": f"{DAY}T23:59:00Z", "durationMinutes": 60}
    assert slot_starts(await http.get(f"{PUBLIC}/{username}/slots", params=window)) == ["09:00", "11:00"]

    guest = {"eventTypeId": 7, "name": "Ruth Guest", "email": "ruth@example.org"}
    busy = await http.post(f"{PUBLIC}/{username}/bookings", json={**guest, "startTime": f"{DAY}T10:00:00Z"})
    assert busy.status_code == 409 and busy.json()["error"]["details"]["rule"] == "calendarBusy"
    late = await http.post(f"{PUBLIC}/{username}/bookings", json={**guest, "startTime": f"{DAY}T12:00:00Z"})
    assert late.status_code == 409 and late.json()["error"]["details"]["rule"] == "workingHours"
    other_type = {**guest, "eventTypeId": 8, "startTime": f"{DAY}T09:00:00Z"}
    unknown = await http.post(f"{PUBLIC}/{username}/bookings", json=other_type)
    assert unknown.status_code == 404

    made = await http.post(f"{PUBLIC}/{username}/bookings", json={**guest, "startTime": f"{DAY}T09:00:00Z"})
    assert made.status_code == 201, made.text
    receipt = made.json()
    booking_id = receipt["bookingId"]
    assert receipt["status"] == "pending" and receipt["endTime"].startswith(f"{DAY}T10:00")
    invite = Calendar.from_ical(receipt["invitation"])
    assert str(invite["METHOD"]) == "REQUEST"
    vevent = invite.walk("VEVENT")[0]
    assert str(vevent["ATTENDEE"]) == "mailto:ruth@example.org"
    assert receipt["cancelToken"] in str(vevent["X-CONNECTNOW-CANCEL-URL"])
    assert str(vevent["X-CONNECTNOW-CANCEL-URL"]).startswith("https://church.example/api/v1/public/scheduling/")
    assert slot_starts(await http.get(f"{PUBLIC}/{username}/slots", params=window)) == ["11:00"]
    twice = await http.post(f"{PUBLIC}/{username}/bookings", json={**guest, "startTime": f"{DAY}T09:00:00Z"})
    assert twice.status_code == 409 and twice.json()["error"]["details"]["rule"] == "overlap"

    # The host sees the guest's booking among theirs.
    mine = (await http.get(f"{API}/scheduling/bookings", headers=h)).json()
    assert [(b["id"], b["createdBy"], b["userId"]) for b in mine] == [(booking_id, "guest", host_id)]

    # The invitation alone, for calendar clients.
    ics = await http.post(
        f"{PUBLIC}/{username}/bookings",
        json={**guest, "startTime": f"{DAY}T11:00:00Z"},
        headers={"Accept": "text/calendar"},
    )
    assert ics.status_code == 201 and ics.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VCALENDAR" in ics.content

    # Links: the signature must match the action and the booking; each link changes the booking once.
    base = f"{PUBLIC}/{username}/bookings/{booking_id}"
    swapped = await http.post(f"{base}/cancel", params={"token": receipt["rescheduleToken"]}, json={})
    assert swapped.status_code == 404 and swapped.json()["error"]["code"] == "BOOKING_LINK_INVALID"
    forged = receipt["cancelToken"][:-4] + ("0000" if not receipt["cancelToken"].endswith("0000") else "1111")
    assert (await http.post(f"{base}/cancel", params={"token": forged}, json={})).status_code == 404

    moved = await http.post(
        f"{base}/reschedule", params={"token": receipt["rescheduleToken"]}, json={"startTime": "2027-03-02T09:00:00Z"}
    )
    assert moved.status_code == 200, moved.text
    fresh = moved.json()
    assert fresh["status"] == "rescheduled" and fresh["startTime"].startswith("2027-03-02T09:00")
    assert fresh["cancelToken"] != receipt["cancelToken"]
    for action, spent, body in (
        ("reschedule", receipt["rescheduleToken"], {"startTime": "2027-03-02T10:00:00Z"}),
        ("cancel", receipt["cancelToken"], {}),
    ):
        again = await http.post(f"{base}/{action}", params={"token": spent}, json=body)
        assert again.status_code == 404 and again.json()["error"]["code"] == "BOOKING_LINK_INVALID"

    gone = await http.post(f"{base}/cancel", params={"token": fresh["cancelToken"]}, json={"reason": "ill"})
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled", gone.text
    assert str(Calendar.from_ical(gone.json()["invitation"])["METHOD"]) == "CANCEL"
    assert gone.json()["cancelToken"] is None
    reused = await http.post(f"{base}/cancel", params={"token": fresh["cancelToken"]}, json={})
    assert reused.status_code == 404
    stored = (await http.get(f"{API}/scheduling/bookings/{booking_id}", headers=h)).json()
    assert stored["status"] == "cancelled" and stored["statusHistory"][-1]["by"] == "guest"
    assert stored["statusHistory"][-1]["reason"] == "ill"


async def test_a_link_used_concurrently_changes_the_booking_once(http: httpx.AsyncClient) -> None:
    username = unique_name("host").lower()
    h, _ = await open_page(http, username)
    guest = {"eventTypeId": 7, "name": "Naomi", "email": "naomi@example.org", "startTime": f"{DAY}T09:00:00Z"}
    receipt = (await http.post(f"{PUBLIC}/{username}/bookings", json=guest)).json()
    base = f"{PUBLIC}/{username}/bookings/{receipt['bookingId']}"
    moves = [
        http.post(f"{base}/reschedule", params={"token": receipt["rescheduleToken"]}, json={"startTime": start})
        for start in ("2027-03-02T09:00:00Z", "2027-03-03T09:00:00Z", "2027-03-04T09:00:00Z", "2027-03-05T09:00:00Z")
    ]
    answers = await asyncio.gather(*moves)
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 1 and all(c in (404, 409) for c in codes if c != 200), [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)
    stored = (await http.get(f"{API}/scheduling/bookings/{receipt['bookingId']}", headers=h)).json()
    assert stored["startTime"] == winner["startTime"] and stored["version"] == 2


async def test_public_writes_are_limited_per_address(tmp_path: Path) -> None:
    live = LiveServer.start(tmp_path / "srv", rate_auth_address_burst="6", rate_auth_address_per_second="0.01")
    try:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10.0) as http:
            username = unique_name("host").lower()
            await open_page(http, username)  # its registration spends one of the six
            guest = {"eventTypeId": 99, "startTime": f"{DAY}T09:00:00Z", "name": "G", "email": "g@example.org"}
            codes = [(await http.post(f"{PUBLIC}/{username}/bookings", json=guest)).status_code for _ in range(8)]
            assert codes[:5] == [404] * 5 and set(codes[5:]) == {429}, codes
            refused = await http.post(f"{PUBLIC}/{username}/bookings", json=guest)
            assert refused.json()["error"]["code"] == "RATE_LIMITED" and int(refused.headers["Retry-After"]) >= 1
    finally:
        live.stop()


async def test_the_public_page_books_in_a_browser(http: httpx.AsyncClient, server: LiveServer) -> None:
    """The optional HTML page at /book/{username}, in headless Chromium under its strict CSP."""
    assert CHROMIUM is not None, "Chromium is missing: scripts/test installs Debian's chromium package"
    from playwright.async_api import async_playwright

    username = unique_name("page").lower()
    h, _ = await open_page(http, username, churchName="Hope Church")
    every_day = {"bufferTimeMinutes": 0, "timeZone": "UTC",
                 "workingHours": {"start": "00:00", "end": "23:59", "timezone": "UTC",
                                  "days": ["monday", "tuesday", "wednesday", "thursday", "friday",
                                           "saturday", "sunday"]}}  # fmt: skip
    assert (await http.put(f"{API}/scheduling/policy", json=every_day, headers=h)).status_code == 200
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await chromium.new_page()
            problems: list[str] = []
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(f"{server.base_url}/book/{username}")
            await page.wait_for_selector("#slots button", timeout=15_000)
            assert "Hope Church" in await page.inner_text("#church")
            await page.click("#slots button")
            await page.fill("#name", "Boaz Browser")
            await page.fill("#email", "boaz@example.org")
            await page.click("#form button[type=submit]")
            await page.wait_for_selector("#done:not([hidden])", timeout=15_000)
            assert "/cancel?token=" in await page.inner_text("#cancel")
            assert problems == []
        finally:
            await chromium.close()
    mine = (await http.get(f"{API}/scheduling/bookings", headers=h)).json()
    assert [b["attendeeNames"] for b in mine] == [["Boaz Browser"]]
