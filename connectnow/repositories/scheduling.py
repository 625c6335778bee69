"""Scheduling sidecar repositories: one per aggregate, named queries only."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from connectnow.repositories.base import Repository
from connectnow.store.port import DuplicateKeyError
from models.scheduling import ACTIVE_STATUSES, BookingRecord, BookingStatus, PolicyRecord
from models.scheduling_forms import AiConfigRecord, FormRecord, FormResponseRecord, SummaryRecord
from models.scheduling_ops import (
    AuditRecord,
    CalendarConnectionRecord,
    JobRecord,
    JobStatus,
    SystemSettingRecord,
)


class BookingRepository(Repository[BookingRecord]):
    collection_name = "bookings"
    model = BookingRecord

    async def active_overlapping(
        self, host_id: str, start: datetime, end: datetime, *, exclude_id: str | None = None
    ) -> list[BookingRecord]:
        """The host's active meetings starting before `end` and ending after `start` (half-open)."""
        flt: dict[str, Any] = {
            "userId": host_id,
            "status": {"$in": [s.value for s in ACTIVE_STATUSES]},
            "startTime": {"$lt": end},
            "endTime": {"$gt": start},
        }
        if exclude_id:
            flt["id"] = {"$ne": exclude_id}
        return await self.find(flt, sort=[("startTime", 1)])

    async def visible_to(
        self,
        user_id: str,
        *,
        statuses: list[str] | None = None,
        start_from: datetime | None = None,
        start_before: datetime | None = None,
        end_by: datetime | None = None,
        limit: int,
        skip: int,
        newest_first: bool = False,
    ) -> list[BookingRecord]:
        """Bookings the user hosts or booked, in start order, within the given statuses and times."""
        flt: dict[str, Any] = {"$or": [{"userId": user_id}, {"createdBy": user_id}]}
        if statuses is not None:
            flt["status"] = {"$in": statuses}
        span = {op: at for op, at in (("$gte", start_from), ("$lt", start_before)) if at is not None}
        if span:
            flt["startTime"] = span
        if end_by is not None:
            flt["endTime"] = {"$lte": end_by}
        return await self.find(flt, sort=[("startTime", -1 if newest_first else 1)], limit=limit, skip=skip)

    async def change(
        self, booking: BookingRecord, fields: dict[str, Any], history: dict[str, Any], now: datetime
    ) -> BookingRecord | None:
        """Apply a change on the version and status read (None when either moved meanwhile): the fields, the
        next version, and one more status history entry."""
        return await self.update(
            {"id": booking.id, "version": booking.version, "status": booking.status.value},
            {"$set": {**fields, "updatedAt": now}, "$inc": {"version": 1}, "$push": {"statusHistory": history}},
        )

    async def purge_intake(self, cutoff: datetime, now: datetime) -> int:
        """Drop the intake data of meetings that ended, or closed, before `cutoff`."""
        closed = [BookingStatus.CANCELLED.value, BookingStatus.REJECTED.value]
        return await self.update_many(
            {
                "encryptedIntakeData": {"$exists": True},
                "$or": [{"endTime": {"$lte": cutoff}}, {"status": {"$in": closed}, "updatedAt": {"$lte": cutoff}}],
            },
            {"$unset": {"encryptedIntakeData": ""}, "$set": {"intakePurgedAt": now}},
        )


class PolicyRepository(Repository[PolicyRecord]):
    collection_name = "scheduling_policies"
    model = PolicyRecord

    async def for_user(self, user_id: str) -> PolicyRecord | None:
        return await self.find_one({"userId": user_id})

    async def set_for_user(self, user_id: str, fields: dict[str, Any]) -> PolicyRecord | None:
        """Set fields of the user's policy (a None value removes the field, so sparse unique indexes hold)."""
        return await self.update({"userId": user_id}, {"$set": fields})

    async def try_lock_calendar(self, user_id: str, owner: str, lease_seconds: float) -> bool:
        """Take the host's calendar lease in one write (free, or left by a holder that died): True when taken.
        The policy document must exist."""
        now = time.time()
        free = {"userId": user_id, "$or": [{"calendarLockOwner": None}, {"calendarLockUntil": {"$lt": now}}]}
        taken = {"$set": {"calendarLockOwner": owner, "calendarLockUntil": now + lease_seconds}}
        return await self.coll.update_one(free, taken)

    async def unlock_calendar(self, user_id: str, owner: str) -> None:
        await self.coll.update_one(
            {"userId": user_id, "calendarLockOwner": owner},
            {"$set": {"calendarLockOwner": None, "calendarLockUntil": None}},
        )


class FormRepository(Repository[FormRecord]):
    collection_name = "forms"
    model = FormRecord


class FormResponseRepository(Repository[FormResponseRecord]):
    collection_name = "form_responses"
    model = FormResponseRecord

    async def expired(self, now: datetime) -> int:
        return await self.delete({"retainUntil": {"$lte": now}})

    async def retain_for_booking(self, booking_id: str, until: datetime) -> int:
        return await self.update_many({"bookingId": booking_id}, {"$set": {"retainUntil": until}})

    async def live_for_form(self, form_id: str, now: datetime, *, limit: int) -> list[FormResponseRecord]:
        """The form's responses still within their retention, newest first."""
        live = {"formId": form_id, "retainUntil": {"$gt": now}}
        return await self.find(live, sort=[("createdAt", -1)], limit=limit)


class SummaryRepository(Repository[SummaryRecord]):
    collection_name = "context_summaries"
    model = SummaryRecord

    async def latest_live(self, booking_id: str, now: datetime) -> SummaryRecord | None:
        """The newest summary not yet expired: an expired one is never shown, purged or not."""
        live = {"bookingId": booking_id, "$or": [{"expiresAt": None}, {"expiresAt": {"$gt": now}}]}
        return await self.find_one(live, sort=[("createdAt", -1)])

    async def purge_expired(self, now: datetime) -> int:
        return await self.delete({"expiresAt": {"$lte": now}})


class AiConfigRepository(Repository[AiConfigRecord]):
    collection_name = "ai_configurations"
    model = AiConfigRecord

    async def for_scope(self, scope: str) -> AiConfigRecord | None:
        return await self.find_one({"scope": scope})

    async def put(self, scope: str, fields: dict[str, Any], on_insert: dict[str, Any]) -> None:
        """Create or update the scope's configuration (one per scope, whoever writes first)."""
        try:
            await self.coll.update_one({"scope": scope}, {"$set": fields, "$setOnInsert": on_insert}, upsert=True)
        except DuplicateKeyError:  # a concurrent first write won: apply ours over it
            await self.coll.update_one({"scope": scope}, {"$set": fields})


class AuditRepository(Repository[AuditRecord]):
    collection_name = "audit_logs"
    model = AuditRecord

    async def purge_before(self, cutoff: datetime) -> int:
        return await self.delete({"createdAt": {"$lt": cutoff}})

    async def search(
        self, equal: dict[str, str], since: datetime | None, until: datetime | None, *, limit: int, skip: int
    ) -> list[AuditRecord]:
        """Entries matching every `equal` field and created in [since, until), newest first."""
        flt: dict[str, Any] = dict(equal)
        span = {op: at for op, at in (("$gte", since), ("$lt", until)) if at is not None}
        if span:
            flt["createdAt"] = span
        return await self.find(flt, sort=[("createdAt", -1), ("id", -1)], limit=limit, skip=skip)


class JobRepository(Repository[JobRecord]):
    collection_name = "worker_jobs"
    model = JobRecord

    async def pending_for_booking(self, booking_id: str, job_type: str) -> list[JobRecord]:
        return await self.find({"bookingId": booking_id, "jobType": job_type, "status": JobStatus.PENDING.value})

    async def cancel_pending(self, booking_id: str, job_type: str, now: datetime) -> int:
        flt = {"bookingId": booking_id, "jobType": job_type, "status": JobStatus.PENDING.value}
        return await self.update_many(flt, {"$set": {"status": JobStatus.CANCELLED.value, "completedAt": now}})

    async def open_of_type(self, job_type: str) -> int:
        open_statuses = [JobStatus.PENDING.value, JobStatus.PROCESSING.value]
        return await self.count({"jobType": job_type, "status": {"$in": open_statuses}})


class CalendarConnectionRepository(Repository[CalendarConnectionRecord]):
    collection_name = "calendar_connections"
    model = CalendarConnectionRecord


class SystemSettingRepository(Repository[SystemSettingRecord]):
    collection_name = "system_settings"
    model = SystemSettingRecord

    async def by_key(self, key: str) -> SystemSettingRecord | None:
        return await self.find_one({"key": key})

    async def by_keys(self, keys: list[str]) -> list[SystemSettingRecord]:
        return await self.find({"key": {"$in": keys}})
