"""No plaintext intake data, form answer, summary, provider token or encrypted setting in a dump of either
store, nor anywhere in the SQLite database files (main file, -wal and -shm)."""

from __future__ import annotations

from pathlib import Path

import orjson

from connectnow.services.scheduling import SchedulingServices
from connectnow.store.port import DocumentStore
from connectnow.store.store_sqlite import SqliteStore
from models.scheduling import BookingCreate
from models.scheduling_forms import FormCreate, FormResponseCreate
from models.scheduling_ops import CalendarConnectionCreate, SystemSettingUpdate
from tests.sidecar_scheduling.conftest import MakeActor, booking_body

INTAKE = "IntakeMarkerQuokka"
ANSWER = "AnswerMarkerPangolin"
ACCESS = "AccessTokenMarkerNarwhal"
REFRESH = "RefreshTokenMarkerAxolotl"
SETTING = "SettingMarkerCapybara"
ANALYTICS_ENUM = "sensitiveEnumValue"  # an enum answer not marked x-analytics: kept only encrypted


async def test_no_plaintext_in_dump_or_database_files(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore, tmp_path: Path
) -> None:
    host, guest, admin = await make_actor(), await make_actor(), await make_actor(admin=True)
    schema = {
        "type": "object",
        "properties": {"story": {"type": "string"}, "kind": {"type": "string", "enum": [ANALYTICS_ENUM, "other"]}},
    }
    form = await sch.forms.create(
        host, FormCreate.model_validate({"name": "Intake", "eventTypeId": 7, "schema": schema})
    )
    booking = await sch.bookings.create(
        guest,
        BookingCreate.model_validate(
            booking_body(
                host,
                "2027-01-05 09:00",
                "2027-01-05 10:00",
                intakeData={"notes": INTAKE},
                attendees=[{"name": "Zebulon Quill", "email": "zq@example.org"}],
            )
        ),
    )
    await sch.forms.submit(
        guest,
        form.id,
        FormResponseCreate.model_validate(
            {"bookingId": booking.id, "answers": {"story": ANSWER, "kind": ANALYTICS_ENUM}}
        ),
    )
    await sch.jobs.run_due()
    summary = (await sch.summaries.latest(host, booking.id)).summary
    await sch.admin.add_connection(
        admin,
        CalendarConnectionCreate.model_validate(
            {
                "userId": host.user_id,
                "provider": "google",
                "providerUserId": "g",
                "accessToken": ACCESS,
                "refreshToken": REFRESH,
            }
        ),
    )
    await sch.admin.put_setting(
        admin, "mail.secret", SystemSettingUpdate.model_validate({"value": SETTING, "isEncrypted": True})
    )
    # Reads decrypt in memory only; they must not leave plaintext behind (audit lines, caches).
    await sch.bookings.get(host, booking.id)
    await sch.admin.get_setting(admin, "mail.secret")

    secrets = [INTAKE, ANSWER, ACCESS, REFRESH, SETTING, summary.plain_text]
    # The enum's values are part of the form's (public) schema; the answer itself is not in clear.
    responses = orjson.dumps(await store.collection("form_responses").find({})).decode()
    assert ANALYTICS_ENUM not in responses
    dumped = orjson.dumps(await store.dump(), default=str).decode()
    assert "encryptedSummary" in dumped and "encryptedIntakeData" in dumped  # the dump really holds them
    for secret in secrets:
        assert secret not in dumped, secret

    if isinstance(store, SqliteStore):
        files = [p for p in store.path.parent.iterdir() if p.name.startswith(store.path.name)]
        assert store.path in files  # plus -wal and -shm: WAL mode keeps recent pages there
        blob = b"".join(p.read_bytes() for p in files)
        assert b"encryptedIntakeData" in blob
        for secret in secrets:
            assert secret.encode() not in blob, secret
