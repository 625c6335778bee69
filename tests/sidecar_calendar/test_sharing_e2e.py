"""Calendar sharing over REST on a live server: read and read-write shares, owner-only management."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import bearer, register
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1"
RANGE = {"timeMin": "2026-06-01T00:00:00Z", "timeMax": "2026-06-30T00:00:00Z"}


async def test_read_and_write_shares_over_rest(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    owner = bearer((await register(http))["accessToken"])
    reader_data, writer_data = await register(http), await register(http)
    reader, writer = bearer(reader_data["accessToken"]), bearer(writer_data["accessToken"])
    cid = (await http.post(f"{API}/calendars", json={"name": "Rota", "color": "#112233"}, headers=owner)).json()["id"]
    event = {"calendarId": cid, "title": "Duty", "startTime": "2026-06-03T08:00:00Z", "endTime": "2026-06-03T09:00:00Z"}
    assert (await http.post(f"{API}/calendar-events", json=event, headers=owner)).status_code == 201
    for data, role in ((reader_data, "read"), (writer_data, "write")):
        put = await http.put(f"{API}/calendars/{cid}/shares/{data['user']['id']}", json={"role": role}, headers=owner)
        assert put.status_code == 200, put.text
    assert len(put.json()["shares"]) == 2
    mine = (await http.get(f"{API}/calendars/shared", headers=reader)).json()
    assert [(c["id"], c["myRole"]) for c in mine] == [(cid, "read")]
    seen = await http.get(f"{API}/calendar-events", params={**RANGE, "calendarId": cid}, headers=reader)
    assert [i["title"] for i in seen.json()] == ["Duty"]
    refused = await http.post(f"{API}/calendar-events", json={**event, "title": "X"}, headers=reader)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "CALENDAR_READ_ONLY")
    added = await http.post(f"{API}/calendar-events", json={**event, "title": "Swap"}, headers=writer)
    assert added.status_code == 201, added.text
    meddle = await http.put(f"{API}/calendars/{cid}/shares/{reader_data['user']['id']}", json={"role": "write"},
                            headers=writer)  # fmt: skip
    assert meddle.status_code == 404
    owner_view = await http.get(f"{API}/calendar-events", params={**RANGE, "calendarId": cid}, headers=owner)
    assert sorted(i["title"] for i in owner_view.json()) == ["Duty", "Swap"]
    gone = await http.delete(f"{API}/calendars/{cid}/shares/{reader_data['user']['id']}", headers=owner)
    assert [s["role"] for s in gone.json()["shares"]] == ["write"]
    after = await http.get(f"{API}/calendar-events", params={**RANGE, "calendarId": cid}, headers=reader)
    assert after.status_code == 404
