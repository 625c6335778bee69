"""Calendar socket events reach the owner and every sharee, stop when a share is revoked, and never reach a
user without access: real Socket.IO clients against a live server.

"Never received" is proven with a sentinel: a later event that the user may see, on the same socket. Socket.IO
keeps one connection's packets in order, so once the sentinel arrived, anything sent before it has too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.clients import Person, register
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1"
SLOT = {"startTime": "2026-06-03T08:00:00Z", "endTime": "2026-06-03T09:00:00Z"}


@pytest.fixture
async def people(live_server: LiveServer, http: httpx.AsyncClient) -> AsyncIterator[dict[str, Person]]:
    crowd = {name: Person(await register(http)) for name in ("owner", "reader", "writer", "stranger")}
    for person in crowd.values():
        await person.connect(live_server)
    yield crowd
    for person in crowd.values():
        await person.sock.close()


async def _calendar(http: httpx.AsyncClient, owner: Person, name: str) -> str:
    made = await http.post(f"{API}/calendars", json={"name": name}, headers=owner.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _share(http: httpx.AsyncClient, owner: Person, cid: str, who: Person, role: str) -> None:
    put = await http.put(f"{API}/calendars/{cid}/shares/{who.id}", json={"role": role}, headers=owner.auth)
    assert put.status_code == 200, put.text


def _about(event_id: str) -> Any:
    return lambda data: data["eventId"] == event_id


def _event_ids(person: Person, kind: str) -> list[str]:
    return [d["eventId"] for d in person.sock.received(f"calendar:event.{kind}")]


async def test_owner_and_sharees_get_event_changes_and_nobody_else(
    http: httpx.AsyncClient, people: dict[str, Person]
) -> None:
    owner, reader, writer, stranger = people["owner"], people["reader"], people["writer"], people["stranger"]
    cid = await _calendar(http, owner, "Rota")
    await _share(http, owner, cid, reader, "read")
    await _share(http, owner, cid, writer, "write")

    made = await http.post(
        f"{API}/calendar-events",
        json={"calendarId": cid, "title": "Duty", **SLOT, "attendees": [{"email": "guest@example.com"}]},
        headers=owner.auth,
    )
    assert made.status_code == 201, made.text
    eid = made.json()["event"]["id"]
    for person in (owner, reader, writer):
        got = await person.sock.wait_for("calendar:event.created", _about(eid))
        assert got["calendarId"] == cid and got["event"]["title"] == "Duty"

    # A read-write sharee's change reaches the owner and the other sharee.
    moved = await http.patch(f"{API}/calendar-events/{eid}", json={"title": "Duty (swapped)"}, headers=writer.auth)
    assert moved.status_code == 200, moved.text
    for person in (owner, reader, writer):
        await person.sock.wait_for("calendar:event.updated", lambda d: d["event"]["title"] == "Duty (swapped)")

    # An attendee's answer is an update too.
    answer = {"email": "guest@example.com", "responseStatus": "accepted"}
    assert (await http.post(f"{API}/calendar-events/{eid}/responses", json=answer, headers=owner.auth)).is_success
    for person in (owner, reader, writer):
        await person.sock.wait_for(
            "calendar:event.updated", lambda d: d["event"]["attendees"][0]["responseStatus"] == "accepted"
        )

    # Revoking the reader's share stops their events at once.
    revoked = await http.delete(f"{API}/calendars/{cid}/shares/{reader.id}", headers=owner.auth)
    assert revoked.status_code == 200, revoked.text
    assert (await http.delete(f"{API}/calendar-events/{eid}", headers=writer.auth)).status_code == 204
    for person in (owner, writer):
        await person.sock.wait_for("calendar:event.deleted", _about(eid))

    # Sentinel: a calendar now shared with the reader and the stranger; its event arrives after anything the
    # deletion could have sent them.
    sentinel_cid = await _calendar(http, owner, "Sentinel")
    await _share(http, owner, sentinel_cid, reader, "read")
    await _share(http, owner, sentinel_cid, stranger, "read")
    sentinel = await http.post(
        f"{API}/calendar-events", json={"calendarId": sentinel_cid, "title": "Later", **SLOT}, headers=owner.auth
    )
    sentinel_id = sentinel.json()["event"]["id"]
    for person in (reader, stranger):
        await person.sock.wait_for("calendar:event.created", _about(sentinel_id))
    assert _event_ids(reader, "deleted") == []
    assert all(eid not in _event_ids(stranger, kind) for kind in ("created", "updated", "deleted"))
    assert _event_ids(writer, "created") == [eid]  # the sentinel calendar is not shared with the writer


async def test_moving_an_event_away_tells_readers_of_the_old_calendar(
    http: httpx.AsyncClient, people: dict[str, Person]
) -> None:
    owner, reader = people["owner"], people["reader"]
    shared, private = await _calendar(http, owner, "Shared"), await _calendar(http, owner, "Private")
    await _share(http, owner, shared, reader, "read")
    made = await http.post(
        f"{API}/calendar-events", json={"calendarId": shared, "title": "Sync", **SLOT}, headers=owner.auth
    )
    eid = made.json()["event"]["id"]
    await reader.sock.wait_for("calendar:event.created", _about(eid))
    moved = await http.patch(f"{API}/calendar-events/{eid}", json={"calendarId": private}, headers=owner.auth)
    assert moved.status_code == 200, moved.text
    gone = await reader.sock.wait_for("calendar:event.deleted", _about(eid))
    assert gone["calendarId"] == shared
    update = await owner.sock.wait_for("calendar:event.updated", _about(eid))
    assert update["calendarId"] == private
    assert _event_ids(reader, "updated") == []  # the reader was told it left, never what it became
