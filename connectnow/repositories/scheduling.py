"""Scheduling sidecar repositories: one per aggregate, named queries only."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from connectnow.repositories.base import Repository
from models.scheduling import ACTIVE_STATUSES, BookingRecord, PolicyRecord
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
        self, user_id: str, extra: dict[str, Any], *, limit: int, skip: int, sort: int
    ) -> list[BookingRecord]:
        flt = {"$or": [{"userId": user_id}, {"createdBy": user_id}], **extra}
        return await self.find(flt, sort=[("startTime", sort)], limit=limit, skip=skip)


class PolicyRepository(Repository[PolicyRecord]):
    collection_name = "scheduling_policies"
    model = PolicyRecord

    async def for_user(self, user_id: str) -> PolicyRecord | None:
        return await self.find_one({"userId": user_id})

    async def set_fields(self, user_id: str, fields: dict[str, Any]) -> PolicyRecord | None:
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


class AuditRepository(Repository[AuditRecord]):
    collection_name = "audit_logs"
    model = AuditRecord

    async def purge_before(self, cutoff: datetime) -> int:
        return await self.delete({"createdAt": {"$lt": cutoff}})


class JobRepository(Repository[JobRecord]):
    collection_name = "worker_jobs"
    model = JobRecord

    async def pending_for_booking(self, booking_id: str, job_type: str) -> list[JobRecord]:
        return await self.find({"bookingId": booking_id, "jobType": job_type, "status": JobStatus.PENDING.value})

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
