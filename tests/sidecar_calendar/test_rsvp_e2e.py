"""Invitation answers on a live server: registering with an invitee's e-mail no longer lets anyone answer for
them; answers go through the organizer's signed, single-use RSVP links, and an invitee who links the
invitation to their account sees the event in their calendar and answers it there."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import PASSWORD, bearer, openapi_document, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1"
RANGE = {"timeMin": "2026-06-01T00:00:00Z", "timeMax": "2026-06-30T00:00:00Z"}


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_rsvp_links_close_the_invitee_email_hole(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    alice = bearer((await register(http))["accessToken"])
    guest, member = unique_name("guest"), unique_name("member")
    # Mallory registers with the guest's address before the guest does.
    squatter = await http.post(
        f"{API}/auth/register",
        json={"email": f"{guest}@example.com", "username": unique_name("m"), "displayName": "M", "password": PASSWORD},
    )
    assert squatter.status_code == 201, squatter.text
    mallory = bearer(squatter.json()["accessToken"])
    bob_data = await register(http, member)
    bob = bearer(bob_data["accessToken"])
    cid = (await http.post(f"{API}/calendars", json={"name": "Team", "color": "#112233"}, headers=alice)).json()["id"]
    event = {
        "calendarId": cid,
        "title": "Planning",
        "startTime": "2026-06-10T09:00:00Z",
        "endTime": "2026-06-10T10:00:00Z",
        "attendees": [{"email": f"{guest}@example.com"}, {"email": f"{member}@example.com"}],
    }
    eid = (await http.post(f"{API}/calendar-events", json=event, headers=alice)).json()["event"]["id"]

    # The hole, closed: an e-mail match is not enough.
    answer = {"email": f"{guest}@example.com", "responseStatus": "accepted"}
    hole = await http.post(f"{API}/calendar-events/{eid}/responses", json=answer, headers=mallory)
    assert (hole.status_code, code(hole)) == (404, "NOT_FOUND")

    assert code(await http.get(f"{API}/calendar-events/{eid}/rsvp-links", headers=mallory)) == "NOT_FOUND"
    links = {x["email"]: x for x in (await http.get(f"{API}/calendar-events/{eid}/rsvp-links", headers=alice)).json()}
    assert set(links) == {f"{guest}@example.com", f"{member}@example.com"}

    # The guest answers through their link, without an account; the link works once.
    path = links[f"{guest}@example.com"]["path"]
    seen = await http.get(path)
    assert seen.json()["title"] == "Planning" and seen.json()["responseStatus"] == "none"
    assert "internalNotes" not in seen.json()
    done = await http.post(path, json={"responseStatus": "tentative"})
    assert done.status_code == 200 and done.json()["responseStatus"] == "tentative"
    again = await http.post(path, json={"responseStatus": "declined"})
    assert (again.status_code, code(again)) == (404, "RSVP_LINK_INVALID")
    forged = path[:-6] + "abcdef"
    assert code(await http.post(forged, json={"responseStatus": "declined"})) == "RSVP_LINK_INVALID"
    assert code(await http.get(f"{API}/rsvp/not-a-token")) == "VALIDATION_FAILED"

    # Bob links the invitation to his account: he sees it in his calendar and answers it there.
    assert (await http.get(f"{API}/calendar-events", params=RANGE, headers=bob)).json() == []
    linked = await http.post(f"{links[f'{member}@example.com']['path']}/link", headers=bob)
    assert linked.status_code == 200 and linked.json()["email"] == f"{member}@example.com"
    mine = (await http.get(f"{API}/calendar-events", params=RANGE, headers=bob)).json()
    assert [(i["eventId"], i["invited"]) for i in mine] == [(eid, True)]
    accepted = await http.post(
        f"{API}/calendar-events/{eid}/responses",
        json={"email": f"{member}@example.com", "responseStatus": "accepted"},
        headers=bob,
    )
    assert accepted.status_code == 200 and accepted.json()["responseStatus"] == "accepted"
    assert (await http.get(f"{API}/calendar-events", params=RANGE, headers=mallory)).json() == []
    busy = (await http.get(f"{API}/calendar-events/freebusy", params=RANGE, headers=bob)).json()
    assert busy["busy"] == [{"start": "2026-06-10T09:00:00Z", "end": "2026-06-10T10:00:00Z"}]
    found = await http.get(f"{API}/calendar-events/search", params={**RANGE, "q": "plan"}, headers=bob)
    assert [i["eventId"] for i in found.json()] == [eid]
    assert (
        await http.get(f"{API}/calendar-events/search", params={**RANGE, "q": "plan"}, headers=mallory)
    ).json() == []
    stored = (await http.get(f"{API}/calendar-events/{eid}", headers=alice)).json()
    assert {a["email"]: a["responseStatus"] for a in stored["attendees"]} == {
        f"{guest}@example.com": "tentative",
        f"{member}@example.com": "accepted",
    }
    assert "rsvp" not in stored and "inviteeUserIds" not in stored

    paths = (await openapi_document(live_server.base_url))["paths"]
    for documented in (
        "/api/v1/calendar-events/freebusy",
        "/api/v1/calendar-events/search",
        "/api/v1/rsvp/{token}",
        "/api/v1/rsvp/{token}/link",
        "/api/v1/calendar-events/{event_id}/rsvp-links",
    ):
        assert documented in paths
