"""Invitation mail end to end (issue 19): a live server sends through a real SMTP server (aiosmtpd).

A guest booking mails the ICS invitation (METHOD:REQUEST) with the signed cancel and reschedule links, a
reschedule mails the new links, a cancel mails METHOD:CANCEL; calendar events with `sendUpdates=all` mail each
attendee their RSVP link, and a delete a CANCEL. The request never waits on SMTP: mails leave from the outbox
worker, temporary refusals are retried, permanent ones end as `failed` with the reason, counted in /metrics.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from tests.sidecar_scheduling.test_public_booking_e2e import DAY, PUBLIC, open_page
from tests.support.clients import bearer, register, unique_name
from tests.support.live_server import LiveServer, running, server_http
from tests.support.smtp_inbox import Delivered, Inbox, smtp_inbox

pytestmark = pytest.mark.e2e
API = "/api/v1"
SITE = "https://church.example"
QUOTA = 8
LINK = re.compile(rf"{re.escape(SITE)}(/\S+)")


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as found:
        yield found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[LiveServer]:
    with running(
        tmp_path_factory.mktemp("invites"),
        public_url=SITE,
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp[1]),
        mail_max_attempts="3",
        mail_retry_base_seconds="0.2",
        mail_poll_seconds="0.5",
        invitation_mails_per_day=str(QUOTA),
        metrics_allowed_networks="127.0.0.1",
    ) as live:
        yield live


http = server_http(timeout=10.0)


def links(mail: Delivered) -> list[str]:
    """The site-relative paths of the absolute links in a mail's text."""
    return LINK.findall(mail.text())


def ics_of(mail: Delivered) -> Calendar:
    part = mail.calendar_part()
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    cal = Calendar.from_ical(payload)
    assert part.get_param("method") == str(cal["METHOD"])  # the iTIP method also on the content type
    return cal


async def wait_status(http: httpx.AsyncClient, path: str, headers: dict[str, str], want: dict[str, str]) -> list[dict]:
    """Poll the invitations list until every address has the wanted status (the worker sends meanwhile)."""
    for _ in range(400):
        answer = await http.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
        rows = answer.json()
        if {r["to"]: r["status"] for r in rows} == want:
            return list(rows)
        await asyncio.sleep(0.05)
    raise AssertionError(f"statuses never became {want}: {rows}")


async def test_guest_booking_mails_invitation_update_and_cancellation(
    http: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox = smtp[0]
    username = unique_name("mailhost").lower()
    host, _ = await open_page(http, username)
    guest = f"{username}-guest@example.org"
    made = await http.post(
        f"{PUBLIC}/{username}/bookings",
        json={"eventTypeId": 7, "name": "Ruth", "email": guest, "startTime": f"{DAY}T09:00:00Z"},
    )
    assert made.status_code == 201, made.text
    receipt = made.json()

    invite = await inbox.wait_for(lambda m: guest in m.to and m.subject.startswith("Invitation:"))
    cal = ics_of(invite)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(cal.walk("VEVENT")[0]["ATTENDEE"]) == f"mailto:{guest}"
    cancel_path, reschedule_path = links(invite)
    assert receipt["cancelToken"] in cancel_path and receipt["rescheduleToken"] in reschedule_path

    # The host accepts: the guest hears of it (same links, still valid).
    accepted = await http.post(f"{API}/scheduling/bookings/{receipt['bookingId']}/accept", headers=host)
    assert accepted.status_code == 200, accepted.text
    confirmed = await inbox.wait_for(lambda m: guest in m.to and m.subject.startswith("Confirmed:"))
    assert str(ics_of(confirmed)["METHOD"]) == "REQUEST" and links(confirmed) == [cancel_path, reschedule_path]

    # The guest follows the mailed reschedule link; the update mail carries fresh links.
    moved = await http.post(reschedule_path, json={"startTime": f"{DAY}T11:00:00Z"})
    assert moved.status_code == 200, moved.text
    update = await inbox.wait_for(lambda m: guest in m.to and m.subject.startswith("Updated invitation:"))
    assert str(ics_of(update)["METHOD"]) == "REQUEST"
    new_cancel, _ = links(update)
    assert new_cancel != cancel_path and moved.json()["cancelToken"] in new_cancel
    stale = await http.post(cancel_path, json={})
    assert stale.json()["error"]["code"] == "BOOKING_LINK_INVALID"  # the first mail's links were spent

    assert (await http.post(new_cancel, json={"reason": "ill"})).status_code == 200
    cancelled = await inbox.wait_for(lambda m: guest in m.to and m.subject.startswith("Cancelled:"))
    cal = ics_of(cancelled)
    assert str(cal["METHOD"]) == "CANCEL" and str(cal.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert links(cancelled) == []  # nothing left to act on

    # The host sees the three mails as sent; someone else cannot see them at all.
    path = f"{API}/scheduling/bookings/{receipt['bookingId']}/invitations"
    rows = await wait_status(http, path, host, {guest: "sent"})
    assert [r["kind"] for r in rows] == ["booking.invitation"] * 3 + ["booking.cancellation"]
    assert [r["subject"].split(":")[0] for r in rows] == ["Invitation", "Confirmed", "Updated invitation", "Cancelled"]
    assert all(r["attempts"] == 1 and r["sentAt"] for r in rows)
    stranger = bearer((await register(http))["accessToken"])
    assert (await http.get(path, headers=stranger)).status_code in (403, 404)


async def test_a_host_declining_a_guest_booking_mails_a_cancel(
    http: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    username = unique_name("declines").lower()
    host, _ = await open_page(http, username)
    guest = f"{username}-guest@example.org"
    made = await http.post(
        f"{PUBLIC}/{username}/bookings",
        json={"eventTypeId": 7, "name": "Ann", "email": guest, "startTime": f"{DAY}T10:00:00Z"},
    )
    assert made.status_code == 201, made.text
    rejected = await http.post(
        f"{API}/scheduling/bookings/{made.json()['bookingId']}/reject", json={"reason": "away"}, headers=host
    )
    assert rejected.status_code == 200, rejected.text
    declined = await smtp[0].wait_for(lambda m: guest in m.to and m.subject.startswith("Declined:"))
    assert str(ics_of(declined)["METHOD"]) == "CANCEL" and links(declined) == []


async def test_event_invitations_retry_give_up_and_cancel(
    server: LiveServer, http: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox = smtp[0]
    owner = bearer((await register(http))["accessToken"])
    tag = unique_name("inv").lower()
    ann, bob = f"{tag}-ann@example.org", f"{tag}-bob@example.org"
    inbox.reject.add(bob)  # refused for good: three attempts, then failed
    inbox.defer = 1  # the first message sent gets a temporary refusal: retried
    cid = (await http.post(f"{API}/calendars", json={"name": "Parish"}, headers=owner)).json()["id"]
    event = {"calendarId": cid, "title": "Council", "startTime": "2027-04-06T18:00:00Z",
             "endTime": "2027-04-06T19:00:00Z", "location": "Hall",
             "attendees": [{"email": ann, "name": "Ann"}, {"email": bob}]}  # fmt: skip
    made = await http.post(f"{API}/calendar-events", params={"sendUpdates": "all"}, json=event, headers=owner)
    assert made.status_code == 201, made.text
    eid = made.json()["event"]["id"]

    invite = await inbox.wait_for(lambda m: ann in m.to and m.subject == "Invitation: Council")
    cal = ics_of(invite)
    assert str(cal["METHOD"]) == "REQUEST" and str(cal.walk("VEVENT")[0]["LOCATION"]) == "Hall"
    rsvp_path = links(invite)[0]
    seen = await http.get(rsvp_path)
    assert seen.status_code == 200 and seen.json()["email"] == ann
    answered = await http.post(rsvp_path, json={"responseStatus": "accepted"})
    assert answered.status_code == 200, answered.text

    path = f"{API}/calendar-events/{eid}/invitations"
    rows = {r["to"]: r for r in await wait_status(http, path, owner, {ann: "sent", bob: "failed"})}
    assert rows[bob]["attempts"] == 3 and "550" in rows[bob]["lastError"]
    assert inbox.deferred >= 1 and rows[ann]["attempts"] + rows[bob]["attempts"] >= 4  # the 451 was retried
    stranger = bearer((await register(http))["accessToken"])
    assert (await http.get(path, headers=stranger)).status_code == 404
    metrics = (await http.get("/metrics")).text
    assert 'connectnow_mail_total{kind="event.invitation",outcome="failed"} 1.0' in metrics
    assert 'connectnow_mail_total{kind="event.invitation",outcome="retried"}' in metrics

    gone = await http.delete(f"{API}/calendar-events/{eid}", params={"sendUpdates": "all"}, headers=owner)
    assert gone.status_code == 204
    cancel = await inbox.wait_for(lambda m: ann in m.to and m.subject == "Cancelled: Council")
    cal = ics_of(cancel)
    assert str(cal["METHOD"]) == "CANCEL" and str(cal.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert int(cal.walk("VEVENT")[0]["SEQUENCE"]) > int(ics_of(invite).walk("VEVENT")[0]["SEQUENCE"])


async def test_the_daily_bound_refuses_before_anything_is_stored(
    http: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    owner = bearer((await register(http))["accessToken"])
    cid = (await http.post(f"{API}/calendars", json={"name": "Spam?"}, headers=owner)).json()["id"]
    crowd = [{"email": f"p{i}-{cid}@example.org"} for i in range(QUOTA + 1)]
    event = {"calendarId": cid, "title": "Everyone", "startTime": "2027-05-01T10:00:00Z",
             "endTime": "2027-05-01T11:00:00Z", "attendees": crowd}  # fmt: skip
    refused = await http.post(f"{API}/calendar-events", params={"sendUpdates": "all"}, json=event, headers=owner)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "MAIL_QUOTA_EXCEEDED"
    listed = await http.get(
        f"{API}/calendar-events",
        params={"calendarId": cid, "timeMin": "2027-05-01T00:00:00Z", "timeMax": "2027-05-02T00:00:00Z"},
        headers=owner,
    )
    assert listed.json() == []  # nothing stored
    assert not any(f"-{cid}@" in to for m in smtp[0].mails for to in m.to)
    # Without sendUpdates nothing is mailed, so nothing is bounded.
    plain = await http.post(f"{API}/calendar-events", json=event, headers=owner)
    assert plain.status_code == 201, plain.text


async def test_a_hanging_smtp_server_never_holds_up_the_request(tmp_path: Path) -> None:
    """The SMTP port accepts connections and never greets: the booking still answers at once, the mail waits."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nobody ever reads or writes
        live = LiveServer.start(
            tmp_path / "srv",
            mail_transport="smtp",
            smtp_host="127.0.0.1",
            smtp_port=str(silent.getsockname()[1]),
            smtp_timeout_seconds="60",
        )
        try:
            async with httpx.AsyncClient(base_url=live.base_url, timeout=30.0) as http:
                username = unique_name("slowmail").lower()
                host, _ = await open_page(http, username)
                started = time.monotonic()
                made = await http.post(
                    f"{PUBLIC}/{username}/bookings",
                    json={"eventTypeId": 7, "name": "Eve", "email": "eve@example.org", "startTime": f"{DAY}T09:00:00Z"},
                )
                elapsed = time.monotonic() - started
                assert made.status_code == 201, made.text
                assert elapsed < 20, elapsed  # far below the 60 s the SMTP exchange may take
                path = f"{API}/scheduling/bookings/{made.json()['bookingId']}/invitations"
                rows = (await http.get(path, headers=host)).json()
                assert [r["status"] for r in rows] in (["pending"], ["sending"])
        finally:
            live.stop()
