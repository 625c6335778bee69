"""Issue 14: every date a model accepts is stored in one fixed-width form and can be read, changed and deleted."""

from __future__ import annotations

import httpx
import pytest

from connectnow.clock import iso_millis
from connectnow.store.sqlite_sql import format_datetime
from models.dates import EARLIEST, LATEST
from tests.support.clients import bearer, register
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1"


def test_stored_form_is_fixed_width_and_sorts_as_time() -> None:
    from datetime import UTC, datetime

    moments = [datetime(y, 6, 1, 10, tzinfo=UTC) for y in (1, 9, 99, 999, 1000, 2026, 9999)]
    texts = [format_datetime(m) for m in moments]
    assert {len(t) for t in texts} == {24}
    assert texts == sorted(texts)
    assert texts[3] == "0999-06-01T10:00:00.000Z" == iso_millis(moments[3])
    assert EARLIEST.year == 2 and LATEST.year == 9998


async def test_year_999_event_lives_and_dies_and_far_offsets_are_refused(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    alice = bearer((await register(http))["accessToken"])
    cid = (await http.post(f"{API}/calendars", json={"name": "Old"}, headers=alice)).json()["id"]
    event = {
        "calendarId": cid,
        "title": "Ancient",
        "startTime": "0999-06-01T10:00:00Z",
        "endTime": "0999-06-01T11:00:00Z",
    }
    saved = await http.post(f"{API}/calendar-events", json=event, headers=alice)
    assert saved.status_code == 201, saved.text
    eid = saved.json()["event"]["id"]
    got = await http.get(f"{API}/calendar-events/{eid}", headers=alice)
    assert got.status_code == 200 and got.json()["startTime"].startswith("0999-06-01T10:00:00"), got.text
    listed = await http.get(
        f"{API}/calendar-events",
        params={"calendarId": cid, "timeMin": "0999-01-01T00:00:00Z", "timeMax": "1000-01-01T00:00:00Z"},
        headers=alice,
    )
    assert listed.status_code == 200 and [e["eventId"] for e in listed.json()] == [eid], listed.text
    patched = await http.patch(f"{API}/calendar-events/{eid}", json={"title": "Still ancient"}, headers=alice)
    assert patched.status_code == 200, patched.text
    exported = await http.get(f"{API}/ics/calendars/{cid}/export", headers=alice)
    assert exported.status_code == 200 and b"09990601T100000Z" in exported.content, exported.text
    assert (await http.delete(f"{API}/calendar-events/{eid}", headers=alice)).status_code == 204
    assert (await http.get(f"{API}/calendar-events/{eid}", headers=alice)).status_code == 404

    # Offsets that push a time past what can be held, and years outside the documented range: 4xx, never 500.
    for start in ("0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-05:00", "0001-06-01T10:00:00Z"):
        refused = await http.post(
            f"{API}/calendar-events",
            json={**event, "startTime": start, "endTime": "2026-01-01T00:00:00Z"},
            headers=alice,
        )
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "VALIDATION_FAILED", refused.text
    for path, params in (
        (
            "/calendar-events",
            {"calendarId": cid, "timeMin": "0001-01-01T00:00:00+05:00", "timeMax": "2026-01-01T00:00:00Z"},
        ),
        ("/scheduled", {"from": "9999-12-31T23:59:00-10:00"}),
        ("/admin/audit-logs", {"from": "0001-01-01T00:00:00+14:00"}),
    ):
        answer = await http.get(f"{API}{path}", params=params, headers=alice)
        assert 400 <= answer.status_code < 500 and answer.json()["error"]["code"] != "INTERNAL", (path, answer.text)
    # The calendar (and so its events) can still be deleted.
    assert (await http.delete(f"{API}/calendars/{cid}", headers=alice)).status_code == 204
