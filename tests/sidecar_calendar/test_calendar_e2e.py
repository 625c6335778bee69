"""End to end against a real `connectnow serve`: REST calendars, events, ICS feed caching, import, exports, CLI."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.clients import PASSWORD, SocketClient, bearer, register
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1"


async def login(http: httpx.AsyncClient, login_name: str) -> str:
    response = await http.post(f"{API}/auth/login", json={"login": login_name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


async def test_calendar_rest_end_to_end(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    alice_token = (await register(http))["accessToken"]
    alice = bearer(alice_token)
    mallory_token = (await register(http))["accessToken"]
    mallory = bearer(mallory_token)
    sockets = SocketClient(), SocketClient()
    await sockets[0].connect(live_server.base_url, alice_token)
    await sockets[1].connect(live_server.base_url, mallory_token)
    created = await http.post(f"{API}/calendars", json={"name": "Team", "color": "#112233"}, headers=alice)
    assert created.status_code == 201 and created.json()["isPrimary"] is True
    cid = created.json()["id"]
    event = {
        "calendarId": cid,
        "title": "Weekly sync",
        "startTime": "2026-03-02T09:00:00",
        "endTime": "2026-03-02T10:00:00",
        "timeZone": "America/New_York",
        "recurrencePattern": {"type": "weekly", "daysOfWeek": ["monday"], "occurrenceCount": 4},
    }
    saved = await http.post(f"{API}/calendar-events", json=event, headers=alice)
    assert saved.status_code == 201, saved.text
    master = saved.json()["event"]["id"]
    announced = await sockets[0].wait_for("calendar:event.created")
    assert announced["eventId"] == master and announced["event"]["title"] == "Weekly sync"
    await asyncio.sleep(0.2)
    assert sockets[1].received("calendar:event.created") == []  # only the owner's sockets hear of it
    for client in sockets:
        await client.close()
    listing = await http.get(
        f"{API}/calendar-events",
        params={"timeMin": "2026-03-01T00:00:00Z", "timeMax": "2026-04-01T00:00:00Z"},
        headers=alice,
    )
    assert [i["startTime"] for i in listing.json()] == [
        "2026-03-02T14:00:00Z",
        "2026-03-09T13:00:00Z",
        "2026-03-16T13:00:00Z",
        "2026-03-23T13:00:00Z",
    ]
    moved = await http.patch(
        f"{API}/calendar-events/{master}/instances/2026-03-09T13:00:00Z", json={"title": "Moved"}, headers=alice
    )
    assert moved.status_code == 200, moved.text
    cancelled = await http.delete(f"{API}/calendar-events/{master}/instances/2026-03-16T13:00:00Z", headers=alice)
    assert cancelled.status_code == 204
    listing = await http.get(
        f"{API}/calendar-events",
        params={"timeMin": "2026-03-01T00:00:00Z", "timeMax": "2026-04-01T00:00:00Z"},
        headers=alice,
    )
    assert [i["title"] for i in listing.json()] == ["Weekly sync", "Moved", "Weekly sync"]

    # Bad input gets a code and stores nothing; other users see nothing.
    for bad, code in (
        ({**event, "title": {"$ne": None}}, "VALIDATION_FAILED"),
        ({**event, "recurrencePattern": {"type": "daily", "interval": 0}}, "VALIDATION_FAILED"),
        ({**event, "endTime": "2026-03-02T08:00:00"}, "EVENT_TIME_INVALID"),
        ({**event, "recurrencePattern": None, "startTime": "2026-02-30T10:00:00"}, "VALIDATION_FAILED"),
        ({**event, "description": "x" * 9000}, "VALIDATION_FAILED"),
    ):
        response = await http.post(f"{API}/calendar-events", json=bad, headers=alice)
        assert response.json()["error"]["code"] == code, response.text
    for method, url in (
        ("GET", f"/calendars/{cid}"),
        ("GET", f"/calendar-events/{master}"),
        ("DELETE", f"/calendar-events/{master}"),
        ("GET", f"/ics/calendars/{cid}/export"),
    ):
        response = await http.request(method, f"{API}{url}", headers=mallory)
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    foreign = await http.post(f"{API}/calendar-events", json=event, headers=mallory)
    assert foreign.status_code == 404
    assert (await http.get(f"{API}/calendar-events/not-an-id", headers=alice)).status_code == 422
    assert (await http.get(f"{API}/calendars", headers={})).json()["error"]["code"] == "AUTH_REQUIRED"

    # The feed: secret URL, no login, ETag/Last-Modified, 304 when unchanged.
    token = (await http.post(f"{API}/calendars/{cid}/feed", headers=alice)).json()
    path = token["url"].split("/api/v1", 1)[1]
    feed = await http.get(f"{API}{path}")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "RRULE:FREQ=WEEKLY;COUNT=4;BYDAY=MO" in feed.text and "RECURRENCE-ID;TZID=America/New_York" in feed.text
    etag, modified = feed.headers["etag"], feed.headers["last-modified"]
    assert (await http.get(f"{API}{path}", headers={"If-None-Match": etag})).status_code == 304
    assert (await http.get(f"{API}{path}", headers={"If-Modified-Since": modified})).status_code == 304
    assert (await http.get(f"{API}/ics/feeds/cnf_wrong.ics")).status_code == 404
    await asyncio.sleep(1.1)  # Last-Modified has one-second resolution
    await http.patch(f"{API}/calendar-events/{master}", json={"title": "Renamed"}, headers=alice)
    changed = await http.get(f"{API}{path}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and "Renamed" in changed.text

    # Import: the exported calendar into a second one, then a hostile file.
    copy = (await http.post(f"{API}/calendars", json={"name": "Copy"}, headers=alice)).json()["id"]
    exported = await http.get(f"{API}/ics/calendars/{cid}/export", headers=alice)
    imported = await http.post(
        f"{API}/ics/import/{copy}", content=exported.content, headers={**alice, "Content-Type": "text/calendar"}
    )
    assert imported.status_code == 200 and imported.json()["eventsCreated"] == 2, imported.text
    hostile = b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 10 + b"END:VEVENT\r\n" * 10 + b"END:VCALENDAR\r\n"
    refused = await http.post(f"{API}/ics/import/{copy}", content=hostile, headers=alice)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "ICS_TOO_COMPLEX"
    huge = await http.post(f"{API}/ics/import/{copy}", content=b"x" * (3 * 1024 * 1024), headers=alice)
    assert huge.status_code == 413
    logs = (await http.get(f"{API}/calendars/{copy}/sync-logs", headers=alice)).json()
    imports = [(log["status"], log["eventsCreated"]) for log in logs if log["syncType"] == "ics_import"]
    assert imports[-1] == ("success", 2) and ("error", 0) in imports[:-1]  # refused imports are logged too
    assert any(e["errorCode"] == "ICS_TOO_COMPLEX" for log in logs for e in log["errors"])

    # Locations and categories.
    loc = await http.post(
        f"{API}/calendar-locations",
        json={"name": "Hall", "capacity": 1, "coordinates": {"latitude": 40.7, "longitude": -74.0}},
        headers=alice,
    )
    assert loc.status_code == 201
    near = await http.get(
        f"{API}/calendar-locations/nearby", params={"lat": 40.71, "lng": -74.0, "maxMeters": 5000}, headers=alice
    )
    assert [x["name"] for x in near.json()] == ["Hall"] and near.json()[0]["distanceMeters"] > 0
    bad_coords = await http.get(f"{API}/calendar-locations/nearby", params={"lat": 95, "lng": 0}, headers=alice)
    assert bad_coords.json()["error"]["code"] == "VALIDATION_FAILED"
    full = await http.post(
        f"{API}/calendar-events",
        headers=alice,
        json={
            **event,
            "recurrencePattern": None,
            "locationId": loc.json()["id"],
            "attendees": [{"email": "a@x.example"}, {"email": "b@x.example"}],
        },
    )
    assert full.status_code == 409 and full.json()["error"]["code"] == "LOCATION_CAPACITY_EXCEEDED"
    cat = await http.post(f"{API}/calendar-categories", json={"name": "Ops"}, headers=alice)
    dup = await http.post(f"{API}/calendar-categories", json={"name": "ops"}, headers=alice)
    assert cat.status_code == 201 and dup.json()["error"]["code"] == "CATEGORY_NAME_TAKEN"

    # Deleting the calendar deletes its events.
    assert (await http.delete(f"{API}/calendars/{cid}", headers=alice)).status_code == 204
    assert (await http.get(f"{API}/calendar-events/{master}", headers=alice)).status_code == 404


async def test_admin_export_rest_and_cli(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    live_server.create_admin("rootadmin", PASSWORD + "\n")
    admin = bearer(await login(http, "rootadmin"))
    user = bearer((await register(http))["accessToken"])
    cid = (await http.post(f"{API}/calendars", json={"name": "Ops"}, headers=user)).json()["id"]
    for day in range(1, 4):
        body = {
            "calendarId": cid,
            "title": f"Shift {day}",
            "startTime": f"2026-05-0{day}T08:00:00Z",
            "endTime": f"2026-05-0{day}T16:00:00Z",
        }
        assert (await http.post(f"{API}/calendar-events", json=body, headers=user)).status_code == 201
    refused = await http.post(f"{API}/admin/calendar-exports", json={}, headers=user)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ADMIN_REQUIRED"
    queued = await http.post(f"{API}/admin/calendar-exports", json={"format": "csv"}, headers=admin)
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    export_id = queued.json()["id"]
    status: dict[str, Any] = {}
    for _ in range(100):
        status = (await http.get(f"{API}/admin/calendar-exports/{export_id}", headers=admin)).json()
        if status["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "completed" and status["recordCount"] == 3 and status["fileSize"] > 0
    download = await http.get(f"{API}/admin/calendar-exports/{export_id}/download", headers=admin)
    assert download.status_code == 200 and download.text.count("Shift") == 3
    assert len(download.content) == status["fileSize"]
    assert (await http.get(f"{API}/admin/calendar-exports/{export_id}/download", headers=user)).status_code == 403

    recount = await http.post(f"{API}/admin/calendar-usage/recount", headers=admin)
    assert recount.status_code == 200 and recount.json() == {"fixed": 0}
    assert (await http.post(f"{API}/admin/calendar-usage/recount", headers=user)).status_code == 403
    me = (await http.get(f"{API}/users/me", headers=user)).json()["id"]
    assert (await http.delete(f"{API}/admin/calendar-users/{me}/data", headers=user)).status_code == 403

    ran = live_server.cli("calendar", "export", "--admin", "rootadmin", "--format", "ics", "--start-date", "2026-05-02")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1].startswith("2 records")
    assert live_server.cli("calendar", "export", "--admin", "nobody").returncode == 2
    assert live_server.cli("calendar", "export", "--admin", "rootadmin", "--format", "xml").returncode == 2
    deleted = await http.delete(f"{API}/admin/calendar-users/{me}/data", headers=admin)
    assert deleted.status_code == 200 and deleted.json()["calendars"] == 1 and deleted.json()["events"] == 3
    assert (await http.get(f"{API}/calendars", headers=user)).json() == []
