"""Seed 004's location checks over REST on a live server: equipment the location lacks and a setup window
shorter than the location requires are refused with their codes, and nothing is stored."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import bearer, register

pytestmark = pytest.mark.e2e
API = "/api/v1"


async def test_equipment_and_setup_time_refused_over_rest(http: httpx.AsyncClient) -> None:
    alice = bearer((await register(http))["accessToken"])
    hall = await http.post(
        f"{API}/calendar-locations",
        json={"name": "Hall", "equipmentAvailable": ["Projector"], "setupTimeRequired": 20},
        headers=alice,
    )
    assert hall.status_code == 201, hall.text
    cid = (await http.post(f"{API}/calendars", json={"name": "Team", "color": "#112233"}, headers=alice)).json()["id"]
    event = {
        "calendarId": cid,
        "title": "Concert",
        "startTime": "2026-06-10T19:00:00Z",
        "endTime": "2026-06-10T21:00:00Z",
        "locationId": hall.json()["id"],
        "setupStartTime": "2026-06-10T18:30:00Z",
        "setupEndTime": "2026-06-10T19:00:00Z",
    }
    organ = await http.post(f"{API}/calendar-events", json={**event, "equipmentRequired": ["organ"]}, headers=alice)
    assert (organ.status_code, organ.json()["error"]["code"]) == (409, "LOCATION_EQUIPMENT_MISSING")
    assert organ.json()["error"]["details"]["missing"] == ["organ"]
    rushed = {**event, "setupStartTime": "2026-06-10T18:50:00Z"}
    short = await http.post(f"{API}/calendar-events", json=rushed, headers=alice)
    assert (short.status_code, short.json()["error"]["code"]) == (422, "LOCATION_SETUP_TOO_SHORT")
    listed = await http.get(
        f"{API}/calendar-events",
        params={"timeMin": "2026-06-01T00:00:00Z", "timeMax": "2026-07-01T00:00:00Z"},
        headers=alice,
    )
    assert listed.json() == []
    fine = await http.post(f"{API}/calendar-events", json={**event, "equipmentRequired": ["projector"]}, headers=alice)
    assert fine.status_code == 201, fine.text
