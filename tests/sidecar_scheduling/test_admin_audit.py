"""Audit logs, calendar connections, system settings, key rotation and tampering, on both adapters."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from connectnow.crypto import Aad
from connectnow.errors import AppError
from connectnow.services.scheduling import SchedulingServices, build_scheduling
from connectnow.services.scheduling.sealing import reencrypt_all
from connectnow.store.port import DocumentStore
from models.scheduling import BookingCreate
from models.scheduling_forms import FormCreate, FormResponseCreate
from models.scheduling_ops import AuditQuery, CalendarConnectionCreate, SystemSettingUpdate
from tests.conftest import make_settings
from tests.sidecar_scheduling.conftest import MakeActor, at, booking_body

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


def keys(**named: bytes) -> str:
    return ",".join(f"{name}:{base64.b64encode(raw).decode()}" for name, raw in named.items())


async def test_reads_and_writes_are_audited_and_admins_filter_them(
    sch: SchedulingServices, make_actor: MakeActor
) -> None:
    host, guest, admin = await make_actor(), await make_actor(ip="198.51.100.9"), await make_actor(admin=True)
    form = await sch.forms.create(host, FormCreate.model_validate({"name": "F", "eventTypeId": 7, "schema": SCHEMA}))
    booking = await sch.bookings.create(
        guest, BookingCreate.model_validate(booking_body(host, "2027-01-05 09:00", "2027-01-05 10:00"))
    )
    response = await sch.forms.submit(
        guest, form.id, FormResponseCreate.model_validate({"bookingId": booking.id, "answers": {"a": "x"}})
    )
    await sch.bookings.get(host, booking.id)
    await sch.forms.read_response(host, response.id)
    await sch.jobs.run_due()
    await sch.summaries.latest(host, booking.id)

    lines = await sch.audit.list(admin, AuditQuery(booking_id=booking.id, limit=100))
    actions = sorted(line.action for line in lines)
    assert actions == sorted(
        ["booking.create", "formResponse.create", "booking.read", "formResponse.read", "summary.create", "summary.read"]
    )
    created = next(line for line in lines if line.action == "booking.create")
    assert created.user_id == guest.user_id and created.ip_address == "198.51.100.9"
    assert (
        created.user_agent == "pytest-agent/1.0" and created.resource == "booking" and created.resource_id == booking.id
    )
    system = next(line for line in lines if line.action == "summary.create")
    assert system.user_id is None and system.metadata == {"actor": "system"}

    only_reads = await sch.audit.list(admin, AuditQuery(user_id=host.user_id, action="formResponse.read"))
    assert [line.resource_id for line in only_reads] == [response.id]
    assert await sch.audit.list(admin, AuditQuery(resource="summary", since=at("2000-01-01 00:00"), limit=1))
    assert await sch.audit.list(admin, AuditQuery(until=at("2000-01-01 00:00"))) == []
    with pytest.raises(AppError) as info:
        await sch.audit.list(host, AuditQuery())
    assert info.value.code == "ADMIN_REQUIRED"


async def test_calendar_connections_admin_only_tokens_never_returned(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    user, admin = await make_actor(), await make_actor(admin=True)
    body = CalendarConnectionCreate.model_validate(
        {
            "userId": user.user_id,
            "provider": "google",
            "providerUserId": "g-1",
            "accessToken": "ya29.ACCESS",
            "refreshToken": "1//REFRESH",
        }
    )
    with pytest.raises(AppError) as info:
        await sch.admin.add_connection(user, body)
    assert info.value.code == "ADMIN_REQUIRED"
    created = await sch.admin.add_connection(admin, body)
    assert created.has_access_token and created.has_refresh_token
    assert "ACCESS" not in created.model_dump_json() and "REFRESH" not in created.model_dump_json()
    raw = await store.collection("calendar_connections").find_one({"id": created.id})
    assert raw is not None and "ACCESS" not in str(raw) and "REFRESH" not in str(raw)
    assert await sch.admin.connection_tokens(created.id) == ("ya29.ACCESS", "1//REFRESH")
    assert [c.id for c in await sch.admin.list_connections(admin, user.user_id)] == [created.id]
    with pytest.raises(AppError):
        await sch.admin.list_connections(user, None)
    unknown = body.model_copy(update={"user_id": "ffffffffffffffffffffffff"})
    with pytest.raises(AppError) as info:
        await sch.admin.add_connection(admin, unknown)
    assert info.value.code == "NOT_FOUND"
    await sch.admin.delete_connection(admin, created.id)
    assert await sch.admin.list_connections(admin, None) == []


async def test_system_settings_encrypted_when_flagged(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    user, admin = await make_actor(), await make_actor(admin=True)
    plain = await sch.admin.put_setting(
        admin, "site.name", SystemSettingUpdate.model_validate({"value": "Grace Church"})
    )
    assert plain.value == "Grace Church" and not plain.is_encrypted
    secret = await sch.admin.put_setting(
        admin,
        "smtp.password",
        SystemSettingUpdate.model_validate({"value": {"pw": "hunter2-secret"}, "isEncrypted": True}),
    )
    assert secret.value == {"pw": "hunter2-secret"}
    raw = await store.collection("system_settings").find_one({"key": "smtp.password"})
    assert raw is not None and "hunter2" not in str(raw) and "value" not in raw
    assert (await sch.admin.get_setting(admin, "smtp.password")).value == {"pw": "hunter2-secret"}
    # Switching the flag off stores the value in clear again, and drops the ciphertext.
    await sch.admin.put_setting(
        admin, "smtp.password", SystemSettingUpdate.model_validate({"value": "x", "isEncrypted": False})
    )
    raw = await store.collection("system_settings").find_one({"key": "smtp.password"})
    assert raw is not None and raw["value"] == "x" and "encryptedValue" not in raw
    assert [s.key for s in await sch.admin.list_settings(admin)] == ["site.name", "smtp.password"]
    for call in (
        sch.admin.get_setting(user, "site.name"),
        sch.admin.list_settings(user),
        sch.admin.put_setting(user, "k", SystemSettingUpdate.model_validate({"value": 1})),
    ):
        with pytest.raises(AppError) as info:
            await call
        assert info.value.code == "ADMIN_REQUIRED"
    with pytest.raises(AppError) as info:
        await sch.admin.put_setting(admin, "big", SystemSettingUpdate.model_validate({"value": "x" * 20_000}))
    assert info.value.code == "PAYLOAD_TOO_LARGE"


async def populate(sch: SchedulingServices, make_actor: MakeActor) -> dict[str, str]:
    host, guest, admin = await make_actor(), await make_actor(), await make_actor(admin=True)
    form = await sch.forms.create(host, FormCreate.model_validate({"name": "F", "eventTypeId": 7, "schema": SCHEMA}))
    booking = await sch.bookings.create(
        guest,
        BookingCreate.model_validate(booking_body(host, "2027-01-05 09:00", "2027-01-05 10:00", intakeData={"k": "v"})),
    )
    response = await sch.forms.submit(
        guest, form.id, FormResponseCreate.model_validate({"bookingId": booking.id, "answers": {"a": "x"}})
    )
    await sch.jobs.run_due()
    conn = await sch.admin.add_connection(
        admin,
        CalendarConnectionCreate.model_validate(
            {"userId": host.user_id, "provider": "apple", "providerUserId": "p", "accessToken": "tok"}
        ),
    )
    await sch.admin.put_setting(admin, "s", SystemSettingUpdate.model_validate({"value": 1, "isEncrypted": True}))
    return {"booking": booking.id, "response": response.id, "conn": conn.id, "host": host.user_id}


async def test_key_rotation_and_reencryption(store: DocumentStore, tmp_path: Path, make_actor: MakeActor) -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = build_scheduling(store, make_settings(tmp_path, encryption_keys=keys(old=old)), channels=[])
    ids = await populate(before, make_actor)
    both = build_scheduling(
        store, make_settings(tmp_path, encryption_keys=keys(old=old, new=new), encryption_active_key="new"), channels=[]
    )
    counts = await reencrypt_all(store, both.ring)
    assert counts == {
        "failed": 0,
        "bookings.encryptedIntakeData": 1,
        "form_responses.encryptedData": 1,
        "context_summaries.encryptedSummary": 1,
        "calendar_connections.accessToken": 1,
        "calendar_connections.refreshToken": 0,
        "system_settings.encryptedValue": 1,
    }
    assert (await reencrypt_all(store, both.ring))["form_responses.encryptedData"] == 0  # nothing left to move
    only_new = build_scheduling(store, make_settings(tmp_path, encryption_keys=keys(new=new)), channels=[])
    admin = await make_actor(admin=True)
    assert (await only_new.bookings.get(admin, ids["booking"])).intake_data == {"k": "v"}
    assert (await only_new.forms.read_response(admin, ids["response"])).answers == {"a": "x"}
    assert (await only_new.summaries.latest(admin, ids["booking"])).summary.duration == 60
    assert await only_new.admin.connection_tokens(ids["conn"]) == ("tok", None)
    assert (await only_new.admin.get_setting(admin, "s")).value == 1
    with pytest.raises(AppError) as info:
        await before.bookings.get(admin, ids["booking"])  # the old key alone no longer reads it
    assert info.value.code == "DECRYPTION_FAILED"


@pytest.mark.parametrize(
    ("collection", "field", "read"),
    [
        ("bookings", "encryptedIntakeData", "booking"),
        ("form_responses", "encryptedData", "response"),
        ("context_summaries", "encryptedSummary", "summary"),
    ],
)
async def test_tampered_or_swapped_ciphertext_fails_to_decrypt(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore, collection: str, field: str, read: str
) -> None:
    ids = await populate(sch, make_actor)
    admin = await make_actor(admin=True)
    coll = store.collection(collection)
    doc = await coll.find_one({field: {"$exists": True}})
    assert doc is not None
    token: str = doc[field]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]

    async def attempt() -> Any:
        if read == "booking":
            return await sch.bookings.get(admin, ids["booking"])
        if read == "response":
            return await sch.forms.read_response(admin, ids["response"])
        return await sch.summaries.latest(admin, ids["booking"])

    await coll.update_one({"id": doc["id"]}, {"$set": {field: flipped}})
    with pytest.raises(AppError) as info:
        await attempt()
    assert info.value.code == "DECRYPTION_FAILED"
    # A valid ciphertext from another record is refused too: it is bound to its id.
    other_id = "0" * 24
    moved = sch.ring.encrypt_json({"k": "v"}, Aad(collection, other_id, field))
    await coll.update_one({"id": doc["id"]}, {"$set": {field: moved}})
    with pytest.raises(AppError) as info:
        await attempt()
    assert info.value.code == "DECRYPTION_FAILED"
    counts = await reencrypt_all(store, sch.ring)
    assert counts["failed"] == 0  # same active key: nothing to rotate, nothing touched
