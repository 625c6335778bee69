"""Worker jobs on the shared lease queue: summaries, reminders by webhook, retries, purge by retention."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.services.scheduling import SchedulingServices, build_scheduling
from connectnow.services.scheduling.notify import WebhookChannel
from connectnow.store.port import DocumentStore
from models.scheduling import BookingCreate, BookingReschedule, PolicyUpdate
from models.scheduling_forms import AiConfigUpdate, FormCreate, FormResponseCreate, FormUpdate
from models.scheduling_ops import JobStatus, JobType, SystemSettingUpdate
from tests.conftest import make_settings
from tests.sidecar_scheduling.conftest import MakeActor, at, booking_body

WEBHOOK_SECRET = b"reminder-webhook-secret"


class Receiver:
    """A real HTTP server that records webhook calls and answers with `status`."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.raw: list[bytes] = []
        self.status = 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.raw.append(await request.read())
        self.calls.append(await request.json())
        self.headers.append(dict(request.headers))
        return web.Response(status=self.status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
def hooked(store: DocumentStore, tmp_path: Path, receiver: Receiver) -> SchedulingServices:
    return build_scheduling(store, make_settings(tmp_path), channels=[WebhookChannel(receiver.url, WEBHOOK_SECRET)])


async def make_due(store: DocumentStore, job_id: str) -> None:
    """Let time pass for one job: it becomes due now."""
    await store.collection("worker_jobs").update_one(
        {"id": job_id}, {"$set": {"scheduledFor": utcnow() - timedelta(seconds=1)}}
    )


async def jobs_of(sch: SchedulingServices, booking_id: str, job_type: JobType) -> list[Any]:
    return [j for j in await sch.jobs.list_for_booking(booking_id) if j.job_type is job_type]


async def new_booking(sch: SchedulingServices, guest: Any, host: Any, start: str, end: str, **extra: Any) -> str:
    return (await sch.bookings.create(guest, BookingCreate.model_validate(booking_body(host, start, end, **extra)))).id


async def test_summary_generated_encrypted_with_retention(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest = await make_actor(), await make_actor()
    booking = await new_booking(
        sch,
        guest,
        host,
        "2027-01-05 09:00",
        "2027-01-05 09:30",
        attendees=[{"name": "Ruth Miller", "email": "ruth@example.org"}],
        location="Chapel",
        sensitivity="High",
    )
    with pytest.raises(AppError):
        await sch.summaries.latest(host, booking)  # not made yet
    assert await sch.jobs.run_due() == 1
    summary = await sch.summaries.latest(host, booking)
    content = summary.summary
    assert content.method == "rule-based" and content.participants == ["Ruth Miller"] and content.duration == 30
    assert content.topic == "Pastoral conversation" and content.sensitivity == "High" and content.location == "Chapel"
    assert "Ruth Miller" in content.plain_text and content.plain_text.count(".") <= 2
    assert summary.expires_at is not None
    assert abs((summary.expires_at - summary.created_at) - timedelta(days=90)) < timedelta(seconds=1)
    raw = await store.collection("context_summaries").find_one({"id": summary.id})
    assert raw is not None and "Ruth" not in str(raw) and raw["metadata"]["method"] == "rule-based"
    job = (await jobs_of(sch, booking, JobType.GENERATE_SUMMARY))[0]
    assert (
        job.status is JobStatus.COMPLETED
        and job.attempts == 1
        and job.result == {"summaryId": summary.id, "retentionDays": 90}
    )
    assert job.started_at is not None and job.completed_at is not None


async def test_pii_detection_redacts_summaries_unless_turned_off(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest = await make_actor(), await make_actor()
    leaky = {
        "title": "Call ruth@example.org or +44 20 7946 0958, card 4111-1111-1111-1111",
        "location": "Desk +1 202 555 0143",
        "attendees": [{"name": "Ruth Miller", "email": "ruth@example.org"}],
    }
    first = await new_booking(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30", **leaky)
    await sch.jobs.run_due()
    content = (await sch.summaries.latest(host, first)).summary
    assert content.plain_text.startswith("Call [email] or [phone], card [card]: a 30-minute meeting at Desk [phone]")
    assert content.location == "Desk [phone]" and content.participants == ["Ruth Miller"]
    assert "2027-01-05 09:00 UTC" in content.plain_text  # dates and times are not phone numbers
    raw = await store.collection("context_summaries").find_one({"bookingId": first})
    assert raw is not None and raw["metadata"]["piiRedacted"] is True
    await sch.summaries.put_config(host, AiConfigUpdate.model_validate({"piiDetection": False}), global_scope=False)
    second = await new_booking(sch, guest, host, "2027-01-06 09:00", "2027-01-06 09:30", **leaky)
    await sch.jobs.run_due()
    kept = (await sch.summaries.latest(host, second)).summary
    assert "ruth@example.org" in kept.plain_text and kept.location == "Desk +1 202 555 0143"


async def test_jit_validate_rechecks_policy_before_the_start(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest = await make_actor(), await make_actor()
    fits = await new_booking(sch, guest, host, "2027-01-05 10:00", "2027-01-05 10:30")
    late = await new_booking(sch, guest, host, "2027-01-05 19:00", "2027-01-05 19:30")
    [check] = await jobs_of(sch, late, JobType.JIT_VALIDATE)
    assert check.scheduled_for == at("2027-01-05 18:55")  # five minutes before the start
    # The host narrows their working hours after both were booked.
    hours = {"workingHours": {"start": "09:00", "end": "17:00", "timezone": "UTC"}, "timeZone": "UTC"}
    await sch.policies.update(host, PolicyUpdate.model_validate(hours))
    for booking_id in (fits, late):
        await make_due(store, (await jobs_of(sch, booking_id, JobType.JIT_VALIDATE))[0].id)
    await sch.jobs.run_due()
    [ok] = await jobs_of(sch, fits, JobType.JIT_VALIDATE)
    [bad] = await jobs_of(sch, late, JobType.JIT_VALIDATE)
    assert ok.status is JobStatus.COMPLETED and ok.result == {"valid": True, "problems": []}
    assert bad.result is not None and bad.result["valid"] is False
    [problem] = bad.result["problems"]
    assert (problem["check"], problem["code"], problem["rule"]) == (
        "policy",
        "SCHEDULING_POLICY_VIOLATION",
        "workingHours",
    )
    # A form changed after it was answered: the check says the answers no longer fit.
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    form = await sch.forms.create(host, FormCreate.model_validate({"name": "F", "eventTypeId": 7, "schema": schema}))
    await sch.forms.submit(
        guest, form.id, FormResponseCreate.model_validate({"bookingId": fits, "answers": {"a": "x"}})
    )
    stricter = {"type": "object", "properties": {"a": {"type": "integer"}}}
    await sch.forms.update(host, form.id, FormUpdate.model_validate({"schema": stricter}))
    rerun = await sch.jobs.enqueue(JobType.JIT_VALIDATE, {"bookingId": fits}, utcnow(), booking_id=fits)
    await sch.jobs.run_due()
    [done] = [j for j in await jobs_of(sch, fits, JobType.JIT_VALIDATE) if j.id == rerun.id]
    assert done.result is not None and done.result["valid"] is False
    assert [(p["check"], p["formId"]) for p in done.result["problems"]] == [("form", form.id)]
    # Moving the booking replaces its pending check with one before the new start.
    moved = await sch.bookings.reschedule(
        guest,
        fits,
        BookingReschedule.model_validate(
            {"startTime": "2027-01-06T10:00:00Z", "endTime": "2027-01-06T10:30:00Z", "reason": "moved"}
        ),
    )
    pending = [j for j in await jobs_of(sch, moved.id, JobType.JIT_VALIDATE) if j.status is JobStatus.PENDING]
    assert [j.scheduled_for for j in pending] == [at("2027-01-06 09:55")]


async def test_per_user_retention_and_global_config(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest, admin = await make_actor(), await make_actor(), await make_actor(admin=True)
    await sch.summaries.put_config(admin, AiConfigUpdate.model_validate({"retentionDays": 30}), global_scope=True)
    first = await new_booking(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30")
    await sch.jobs.run_due()
    got = await sch.summaries.latest(host, first)
    assert got.expires_at is not None and (got.expires_at - got.created_at).days == 30
    config = await sch.summaries.put_config(
        host,
        AiConfigUpdate.model_validate({"provider": "openai", "model": "gpt-x", "retentionDays": 7}),
        global_scope=False,
    )
    assert config.provider.value == "openai" and config.effective_provider.value == "local"
    second = await new_booking(sch, guest, host, "2027-01-06 09:00", "2027-01-06 09:30")
    await sch.jobs.run_due()
    got = await sch.summaries.latest(host, second)
    assert got.expires_at is not None and (got.expires_at - got.created_at).days == 7
    assert got.summary.method == "rule-based"  # only the local provider runs
    with pytest.raises(AppError) as info:
        await sch.summaries.put_config(host, AiConfigUpdate.model_validate({}), global_scope=True)
    assert info.value.code == "ADMIN_REQUIRED"


async def test_reminder_webhook_moves_and_cancels_with_the_booking(
    hooked: SchedulingServices, make_actor: MakeActor, store: DocumentStore, receiver: Receiver
) -> None:
    sch = hooked
    host, guest = await make_actor(), await make_actor()
    await sch.policies.update(host, PolicyUpdate.model_validate({"bufferTimeMinutes": 0}))
    booking = await new_booking(
        sch,
        guest,
        host,
        "2027-01-05 09:00",
        "2027-01-05 09:30",
        description="my son's addiction",
        intakeData={"secret": "relapse"},
    )
    [reminder] = await jobs_of(sch, booking, JobType.SEND_REMINDER)
    assert reminder.scheduled_for == at("2027-01-05 08:00") and reminder.status is JobStatus.PENDING
    await sch.jobs.run_due()  # the summary only: the reminder is not due
    assert receiver.calls == []

    body = BookingReschedule.model_validate(
        {"startTime": at("2027-01-06 09:00"), "endTime": at("2027-01-06 09:30"), "reason": "ill"}
    )
    await sch.bookings.reschedule(guest, booking, body)
    reminders = await jobs_of(sch, booking, JobType.SEND_REMINDER)
    assert [(j.status, j.scheduled_for) for j in reminders] == [
        (JobStatus.CANCELLED, at("2027-01-05 08:00")),
        (JobStatus.PENDING, at("2027-01-06 08:00")),
    ]
    await make_due(store, reminders[1].id)
    await sch.jobs.run_due()
    assert len(receiver.calls) == 1
    sent = receiver.calls[0]
    assert sent["bookingId"] == booking and sent["startTime"].startswith("2027-01-06T09:00")
    assert "addiction" not in str(sent) and "relapse" not in str(sent)
    # Signed like broadcast webhooks: t=<unix>,v1=HMAC-SHA256("<t>.<body>"); a stable delivery id.
    signature = dict(part.split("=", 1) for part in receiver.headers[0]["X-ConnectNow-Signature"].split(","))
    expected = hmac.new(WEBHOOK_SECRET, f"{signature['t']}.".encode() + receiver.raw[0], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature["v1"], expected)
    assert abs(int(signature["t"]) - time.time()) < 60
    assert receiver.headers[0]["X-ConnectNow-Delivery"].startswith(f"reminder-{booking}-")
    done = (await jobs_of(sch, booking, JobType.SEND_REMINDER))[1]
    assert done.status is JobStatus.COMPLETED and done.result == {"sent": [{"channel": "webhook", "status": 200}]}

    other = await new_booking(sch, guest, host, "2027-01-07 09:00", "2027-01-07 09:30")
    await sch.bookings.transition(host, other, "cancel", "away")
    assert [j.status for j in await jobs_of(sch, other, JobType.SEND_REMINDER)] == [JobStatus.CANCELLED]


async def test_failing_webhook_retries_then_fails(
    hooked: SchedulingServices, make_actor: MakeActor, store: DocumentStore, receiver: Receiver
) -> None:
    sch = hooked
    receiver.status = 500
    host, guest = await make_actor(), await make_actor()
    booking = await new_booking(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30")
    [job] = await jobs_of(sch, booking, JobType.SEND_REMINDER)
    for attempt in (1, 2, 3):
        await make_due(store, job.id)
        await sch.jobs.run_due()
        [job] = await jobs_of(sch, booking, JobType.SEND_REMINDER)
        assert job.attempts == attempt and job.error and "500" in job.error
        if attempt < 3:
            assert job.status is JobStatus.PENDING and job.scheduled_for > utcnow()
    assert job.status is JobStatus.FAILED and job.completed_at is not None
    assert len(receiver.calls) == 3
    await make_due(store, job.id)
    assert await sch.jobs.run_due() == 0  # a failed job is never claimed again


async def test_two_workers_never_run_the_same_job(store: DocumentStore, tmp_path: Path, make_actor: MakeActor) -> None:
    one = build_scheduling(store, make_settings(tmp_path), channels=[])
    two = build_scheduling(store, make_settings(tmp_path), channels=[])
    assert one.worker.worker_id != two.worker.worker_id
    host, guest = await make_actor(), await make_actor()
    await one.policies.update(host, PolicyUpdate.model_validate({"bufferTimeMinutes": 0, "maxMeetingsPerDay": 50}))
    ids = [
        await new_booking(one, guest, host, f"2027-01-05 {h:02d}:00", f"2027-01-05 {h:02d}:30") for h in range(8, 16)
    ]
    handled = await asyncio.gather(one.jobs.run_due(), two.jobs.run_due(), one.jobs.run_due())
    assert sum(handled) == len(ids)
    for booking_id in ids:
        assert await store.collection("context_summaries").count({"bookingId": booking_id}) == 1


async def test_purge_removes_exactly_what_retention_says(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest = await make_actor(), await make_actor()
    await sch.policies.update(host, PolicyUpdate.model_validate({"bufferTimeMinutes": 0}))
    form = await sch.forms.create(
        host,
        FormCreate.model_validate(
            {"name": "F", "eventTypeId": 7, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
        ),
    )
    old = await new_booking(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30", intakeData={"k": "old"})
    fresh = await new_booking(sch, guest, host, "2027-01-06 09:00", "2027-01-06 09:30", intakeData={"k": "fresh"})
    for b in (old, fresh):
        await sch.forms.submit(guest, form.id, FormResponseCreate.model_validate({"bookingId": b, "answers": {"a": b}}))
    await sch.jobs.run_due()  # one summary per booking
    now = utcnow()
    bookings, summaries = store.collection("bookings"), store.collection("context_summaries")
    # The old meeting ended 91 days ago (retention 90): its form data goes; the fresh one stays.
    await bookings.update_one(
        {"id": old}, {"$set": {"startTime": now - timedelta(days=91, minutes=30), "endTime": now - timedelta(days=91)}}
    )
    await store.collection("form_responses").update_one(
        {"bookingId": old}, {"$set": {"retainUntil": now - timedelta(days=1)}}
    )
    await summaries.update_one({"bookingId": old}, {"$set": {"expiresAt": now - timedelta(seconds=1)}})
    await store.collection("audit_logs").insert_one(
        {"id": "a" * 24, "action": "booking.read", "resource": "booking", "createdAt": now - timedelta(days=366)}
    )
    audit_before = await store.collection("audit_logs").count({})

    counts = await sch.purge.purge()
    assert counts == {"summaries": 1, "formResponses": 1, "intakeData": 1, "auditLogs": 1}
    assert await summaries.count({}) == 1 and await summaries.count({"bookingId": fresh}) == 1
    assert await store.collection("form_responses").count({"bookingId": fresh}) == 1
    assert await store.collection("form_responses").count({}) == 1
    old_doc, fresh_doc = await bookings.find_one({"id": old}), await bookings.find_one({"id": fresh})
    assert old_doc is not None and "encryptedIntakeData" not in old_doc and "intakePurgedAt" in old_doc
    assert fresh_doc is not None and "encryptedIntakeData" in fresh_doc
    # Exactly one audit line went (the old one); the purge itself is audited.
    assert await store.collection("audit_logs").count({}) == audit_before - 1 + 1
    assert await sch.purge.purge() == {"summaries": 0, "formResponses": 0, "intakeData": 0, "auditLogs": 0}


async def test_cancelled_booking_form_data_follows_retention(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest = await make_actor(), await make_actor()
    form = await sch.forms.create(
        host,
        FormCreate.model_validate(
            {"name": "F", "eventTypeId": 7, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
        ),
    )
    booking = await new_booking(sch, guest, host, "2027-06-05 09:00", "2027-06-05 09:30")
    response = await sch.forms.submit(
        guest, form.id, FormResponseCreate.model_validate({"bookingId": booking, "answers": {"a": "x"}})
    )
    stored = await sch.forms.responses.get(response.id)
    assert stored is not None and stored.retain_until == at("2027-06-05 09:30") + timedelta(days=90)
    await sch.bookings.transition(guest, booking, "cancel", "moved away")
    stored = await sch.forms.responses.get(response.id)
    assert stored is not None and stored.retain_until < utcnow() + timedelta(days=91)


async def test_purge_job_is_scheduled_and_reschedules_itself(sch: SchedulingServices, store: DocumentStore) -> None:
    await sch.jobs.ensure_purge_scheduled()
    await sch.jobs.ensure_purge_scheduled()  # idempotent
    jobs = store.collection("worker_jobs")
    assert await jobs.count({"jobType": "purge-sensitive"}) == 1
    assert await sch.jobs.run_due() == 1
    done = await jobs.find_one({"jobType": "purge-sensitive", "status": "completed"})
    assert done is not None and done["result"]["summaries"] == 0
    following = await sch.jobs.repo.find_one({"jobType": "purge-sensitive", "status": "pending"})
    assert following is not None and following.scheduled_for > utcnow() + timedelta(minutes=50)


async def test_purge_racing_reads(sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore) -> None:
    host, guest = await make_actor(), await make_actor()
    await sch.policies.update(host, PolicyUpdate.model_validate({"bufferTimeMinutes": 0}))
    live = await new_booking(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30")
    dying = await new_booking(sch, guest, host, "2027-01-05 10:00", "2027-01-05 10:30")
    await sch.jobs.run_due()
    await store.collection("context_summaries").update_one({"bookingId": dying}, {"$set": {"expiresAt": utcnow()}})

    async def read(booking_id: str) -> str:
        try:
            return (await sch.summaries.latest(host, booking_id)).summary.plain_text
        except AppError as exc:
            return exc.code

    results = await asyncio.gather(*(read(b) for _ in range(10) for b in (live, dying)), sch.purge.purge())
    texts = results[:-1]
    # The expired summary is never shown, whether the purge ran before or after the read; the live one always is.
    assert all(t == "NOT_FOUND" for t in texts[1::2])
    assert all(isinstance(t, str) and t.startswith("Pastoral conversation") for t in texts[0::2])
    assert await store.collection("context_summaries").count({"bookingId": dying}) == 0


async def test_form_response_reads_racing_the_purge(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest = await make_actor(), await make_actor()
    await sch.policies.update(host, PolicyUpdate.model_validate({"bufferTimeMinutes": 0}))
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    form = await sch.forms.create(host, FormCreate.model_validate({"name": "F", "eventTypeId": 7, "schema": schema}))
    kept, expired = [
        await sch.forms.submit(
            guest,
            form.id,
            FormResponseCreate.model_validate(
                {
                    "bookingId": await new_booking(sch, guest, host, f"2027-01-05 {h}:00", f"2027-01-05 {h}:30"),
                    "answers": {"a": h},
                }
            ),
        )
        for h in ("09", "10")
    ]
    await store.collection("form_responses").update_one({"id": expired.id}, {"$set": {"retainUntil": utcnow()}})

    async def read(response_id: str) -> Any:
        try:
            return (await sch.forms.read_response(host, response_id)).answers
        except AppError as exc:
            return exc.code

    results = await asyncio.gather(*(read(r.id) for _ in range(10) for r in (kept, expired)), sch.purge.purge())
    assert all(r == {"a": "09"} for r in results[0:-1:2])
    assert all(r == "NOT_FOUND" for r in results[1:-1:2])
    assert [r.id for r in await sch.forms.list_responses(host, form.id)] == [kept.id]


async def test_availability_of_an_unknown_host_stores_nothing(sch: SchedulingServices, store: DocumentStore) -> None:
    with pytest.raises(AppError) as info:
        await sch.policies.availability(
            "ffffffffffffffffffffffff", at("2027-01-05 00:00"), at("2027-01-06 00:00"), 30, 30
        )
    assert info.value.code == "NOT_FOUND"
    assert await store.collection("scheduling_policies").count({}) == 0


async def test_retention_from_system_settings_with_the_environment_as_default(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest, admin = await make_actor(), await make_actor(), await make_actor(admin=True)
    first = await new_booking(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30")
    await sch.jobs.run_due()
    default = await sch.summaries.latest(host, first)
    assert default.expires_at is not None and (default.expires_at - default.created_at).days == 90  # environment
    for key, days in (("retention.summaryDays", 7), ("retention.formDays", 10), ("retention.auditDays", 30)):
        await sch.admin.put_setting(admin, key, SystemSettingUpdate.model_validate({"value": days}))
    for bad in ({"value": "7"}, {"value": 0}, {"value": 4000}, {"value": True}, {"value": 7, "isEncrypted": True}):
        with pytest.raises(AppError) as err:
            await sch.admin.put_setting(admin, "retention.formDays", SystemSettingUpdate.model_validate(bad))
        assert err.value.code == "VALIDATION_FAILED"
    second = await new_booking(sch, guest, host, "2027-01-06 09:00", "2027-01-06 09:30")
    await sch.jobs.run_due()
    got = await sch.summaries.latest(host, second)
    assert got.expires_at is not None and (got.expires_at - got.created_at).days == 7
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    form = await sch.forms.create(host, FormCreate.model_validate({"name": "F", "eventTypeId": 7, "schema": schema}))
    response = await sch.forms.submit(
        guest, form.id, FormResponseCreate.model_validate({"bookingId": second, "answers": {"a": "x"}})
    )
    stored = await sch.forms.responses.get(response.id)
    assert stored is not None and stored.retain_until == at("2027-01-06 09:30") + timedelta(days=10)
    periods = await sch.purge.retention.current()
    assert (periods.summary_days, periods.form.days, periods.audit.days) == (7, 10, 30)
