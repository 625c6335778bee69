"""Scheduling policies: each user's rules, their enforcement on every booking write, and availability.

Enforcement is one step per host: a writer takes the host's calendar lease (fields on the host's policy
document), checks the rules against the meetings it sees and stores its booking, all inside
`store.transaction()`, then frees the lease. Two concurrent requests therefore cannot both take the last
slot, and a booking that breaks a rule is never stored, not even for a moment. On SQLite the step is one
transaction (a crash stores none of it); on MongoDB the booking is the step's one write, made only after the
check passed, so a crash can leave at most a valid booking and a lease that expires after
CALENDAR_LEASE_SECONDS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.scheduling import BookingRepository, PolicyRepository
from connectnow.services.scheduling import rules
from connectnow.services.scheduling.access import Actor
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.scheduling import Availability, BookingRecord, PolicyPublic, PolicyRecord, PolicyUpdate, Slot

MAX_AVAILABILITY_DAYS = 31
MAX_SLOTS = 1000
# A step holds the lease for milliseconds; one older than this belongs to a worker that died mid-step.
CALENDAR_LEASE_SECONDS = 10.0
CALENDAR_WAIT_SECONDS = 15.0  # a writer waits this long for a busy calendar, then answers CONFLICT
CALENDAR_POLL_SECONDS = 0.005
T = TypeVar("T")


class PolicyService:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.policies = PolicyRepository(store)
        self.bookings = BookingRepository(store)
        self.users = UserRepository(store)

    async def policy_for(self, user_id: str) -> PolicyRecord:
        """The user's policy; created with the seed's defaults on first use (it carries the calendar version)."""
        found = await self.policies.for_user(user_id)
        if found is not None:
            return found
        now = utcnow()
        fresh = PolicyRecord(id=new_id(), user_id=user_id, created_at=now, updated_at=now)
        try:
            return await self.policies.insert(fresh)
        except DuplicateKeyError:
            again = await self.policies.for_user(user_id)
            assert again is not None
            return again

    async def get(self, user_id: str) -> PolicyPublic:
        return PolicyPublic.model_validate(await self.policy_for(user_id), from_attributes=True)

    async def update(self, actor: Actor, body: PolicyUpdate) -> PolicyPublic:
        rules.zone(body.time_zone)
        for hours in (body.working_hours, body.quiet_hours):
            if hours is not None:
                rules.zone(hours.timezone)
        await self.policy_for(actor.user_id)
        fields = body.model_dump(by_alias=True)
        updated = await self.policies.set_for_user(actor.user_id, {**fields, "updatedAt": utcnow()})
        assert updated is not None
        return PolicyPublic.model_validate(updated, from_attributes=True)

    async def context(
        self, host_id: str, start: datetime, end: datetime, exclude_id: str | None
    ) -> list[BookingRecord]:
        margin = rules.CONTEXT_MARGIN
        return await self.bookings.active_overlapping(host_id, start - margin, end + margin, exclude_id=exclude_id)

    async def guarded_write(
        self,
        host_id: str,
        start: datetime,
        end: datetime,
        buffer_minutes: int,
        write: Callable[[], Awaitable[T]],
        *,
        exclude_id: str | None = None,
    ) -> T:
        """Check every rule and write, as one step on the host's calendar (see the module docstring)."""
        await self.policy_for(host_id)  # the lease lives on the policy document
        async with self.store.transaction():
            owner = new_id()
            await self._lock_calendar(host_id, owner)
            try:
                policy = await self.policy_for(host_id)
                existing = await self.context(host_id, start, end, exclude_id)
                violation = rules.evaluate(policy, start, end, buffer_minutes, existing)
                if violation is not None:
                    raise violation.error()
                return await write()
            finally:
                await self.policies.unlock_calendar(host_id, owner)

    async def _lock_calendar(self, host_id: str, owner: str) -> None:
        deadline = time.monotonic() + CALENDAR_WAIT_SECONDS
        while not await self.policies.try_lock_calendar(host_id, owner, CALENDAR_LEASE_SECONDS):
            if time.monotonic() > deadline:
                raise AppError(errors.CONFLICT, "The host's calendar is changing quickly; try again", retry_after=1.0)
            await asyncio.sleep(CALENDAR_POLL_SECONDS)

    async def availability(
        self, host_id: str, start: datetime, end: datetime, duration_minutes: int, step_minutes: int
    ) -> Availability:
        start, end = rules.as_utc(start), rules.as_utc(end)
        if end <= start or end - start > timedelta(days=MAX_AVAILABILITY_DAYS):
            raise AppError(
                errors.SCHEDULING_RANGE_INVALID, f"The range must be non-empty and at most {MAX_AVAILABILITY_DAYS} days"
            )
        host = await self.users.get(host_id)
        if host is None or not host.is_active or host.is_banned:
            # Checked before policy_for, which would otherwise store a policy for any id a caller invents.
            raise AppError(errors.NOT_FOUND, "No such host")
        policy = await self.policy_for(host_id)
        existing = await self.context(host_id, start, end, None)
        slots: list[Slot] = []
        # Slots start on whole multiples of the step, counted from the hour of the range start.
        cursor = start.replace(minute=0, second=0, microsecond=0)
        step, length = timedelta(minutes=step_minutes), timedelta(minutes=duration_minutes)
        while cursor + length <= end and len(slots) < MAX_SLOTS:
            if (
                cursor >= start
                and rules.evaluate(policy, cursor, cursor + length, policy.buffer_time_minutes, existing) is None
            ):
                slots.append(Slot(start=cursor, end=cursor + length))
            cursor += step
        return Availability(user_id=host_id, duration_minutes=duration_minutes, slots=slots)
