"""Bookings: create, read, list, and the status lifecycle, with every policy enforced on each write.

Lifecycle: pending -> accepted | rejected | cancelled | rescheduled; accepted -> cancelled | rescheduled;
rescheduled -> accepted | rejected | cancelled | rescheduled. Rejected and cancelled are final. Only the
host accepts or rejects; the host or the booker cancels or reschedules. Every change is conditional on
the booking's `version`, so two concurrent changes cannot both apply.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.crypto import KeyRing
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.rooms import user_room
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.scheduling import BookingRepository
from connectnow.services.scheduling import rules
from connectnow.services.scheduling.access import Actor, is_participant, require_visible
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.forms import FormService
from connectnow.services.scheduling.jobs import JobService
from connectnow.services.scheduling.policies import PolicyService
from connectnow.services.scheduling.sealing import seal, unseal
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.scheduling import (
    ACTIVE_STATUSES,
    Attendee,
    BookingCreate,
    BookingPublic,
    BookingRecord,
    BookingReschedule,
    BookingStatus,
    Sensitivity,
)

S = BookingStatus
TRANSITIONS: dict[str, tuple[BookingStatus, ...]] = {
    "accept": (S.PENDING, S.RESCHEDULED),
    "reject": (S.PENDING, S.RESCHEDULED),
    "cancel": (S.PENDING, S.ACCEPTED, S.RESCHEDULED),
    "reschedule": (S.PENDING, S.ACCEPTED, S.RESCHEDULED),
}
RESULT = {"accept": S.ACCEPTED, "reject": S.REJECTED, "cancel": S.CANCELLED}
HOST_ONLY = {"accept", "reject"}
REDACTED_LENGTH = 280  # characters of description an external calendar may show
PRIVATE_TEXT = "Private meeting"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")
Scope = Literal["all", "upcoming", "past", "cancelled"]


def redact(description: str | None, sensitivity: Sensitivity, anonymous: bool) -> str | None:
    """What may leave the participants (external calendars, notifications): no contact details, and
    nothing at all of a High-sensitivity or anonymous meeting."""
    if sensitivity is Sensitivity.HIGH or anonymous:
        return PRIVATE_TEXT
    if not description:
        return None
    masked = _PHONE.sub("[phone]", _EMAIL.sub("[email]", description))
    return masked[:REDACTED_LENGTH]


BOOKING_EVENT = "scheduling:booking"
GUEST = "guest"  # `createdBy` and `statusHistory.by` of public bookings: a guest has no account


class BookingService:
    def __init__(
        self,
        store: DocumentStore,
        ring: KeyRing,
        policies: PolicyService,
        audit: AuditService,
        jobs: JobService,
        forms: FormService,
        events: Emitter | None = None,
    ) -> None:
        self.repo = BookingRepository(store)
        self.users = UserRepository(store)
        self.ring = ring
        self.policies = policies
        self.audit = audit
        self.jobs = jobs
        self.forms = forms
        self.events = events
        # Mails a guest booking's changes to the guest (public.py wires it), whoever made the change.
        self.guest_mail: Callable[[BookingRecord, str], Awaitable[None]] | None = None

    # --- views ----------------------------------------------------------------------------------------
    def public(self, booking: BookingRecord, *, with_intake: bool) -> BookingPublic:
        view = BookingPublic.model_validate(booking, from_attributes=True)
        if with_intake and booking.encrypted_intake_data:
            view.intake_data = unseal(
                self.ring, booking.encrypted_intake_data, "bookings", booking.id, "encryptedIntakeData"
            )
        return view

    async def notify(self, booking: BookingRecord, action: str) -> None:
        """Tell the host's and the booker's sockets, after the write; intake data never rides along."""
        if self.events is not None:
            rooms = sorted({user_room(booking.user_id), user_room(booking.created_by)})
            view = self.public(booking, with_intake=False)
            await self.events.emit(BOOKING_EVENT, {"action": action, "booking": view}, room=rooms)
        if self.guest_mail is not None and booking.created_by == GUEST:
            await self.guest_mail(booking, action)

    async def record(self, booking_id: str) -> BookingRecord | None:
        """The stored booking, unchecked: for callers that authorize otherwise (a guest's signed link)."""
        return await self.repo.get(booking_id)

    async def load(self, actor: Actor, booking_id: str) -> BookingRecord:
        return require_visible(actor, await self.repo.get(booking_id))

    # --- create ---------------------------------------------------------------------------------------
    async def create(self, actor: Actor, body: BookingCreate) -> BookingPublic:
        booking = await self.place(body, actor.user_id)
        await self.audit.record(actor, "booking.create", "booking", booking.id, booking_id=booking.id)
        await self.after_create(booking)
        return self.public(booking, with_intake=True)

    async def after_create(self, booking: BookingRecord) -> None:
        await self.jobs.on_booking_scheduled(booking)
        await self.notify(booking, "create")

    async def place(self, body: BookingCreate, created_by: str, guest_nonce: str | None = None) -> BookingRecord:
        """Validate and store a booking under every policy of the host (authenticated and public bookings)."""
        start, end = rules.as_utc(body.start_time), rules.as_utc(body.end_time)
        duration = rules.check_interval(start, end)
        if start <= utcnow():
            raise AppError(errors.BOOKING_TIME_INVALID, "A meeting must start in the future")
        if body.time_zone:
            rules.zone(body.time_zone)
        for attendee in body.attendees:
            if attendee.time_zone:
                rules.zone(attendee.time_zone)
        host = await self.users.get(body.user_id)
        if host is None or not host.is_active or host.is_banned:
            raise AppError(errors.NOT_FOUND, "No such host")
        policy = await self.policies.policy_for(host.id)
        record = self._record(created_by, body, start, end, duration, policy.buffer_time_minutes)
        record.guest_nonce = guest_nonce

        async def write() -> BookingRecord:
            try:
                return await self.repo.insert(record)
            except DuplicateKeyError as exc:
                raise AppError(
                    errors.CONFLICT, "A booking with this external id exists", details={"index": exc.index}
                ) from exc

        return await self.policies.guarded_write(host.id, start, end, record.buffer_minutes, write)

    def _record(
        self, created_by: str, body: BookingCreate, start: datetime, end: datetime, duration: int, default_buffer: int
    ) -> BookingRecord:
        now = utcnow()
        booking_id = new_id()
        attendees = [Attendee.model_validate(a.model_dump()) for a in body.attendees]
        intake = None
        if body.intake_data is not None:
            intake = seal(self.ring, body.intake_data, "bookings", booking_id, "encryptedIntakeData")
        return BookingRecord(
            id=booking_id,
            user_id=body.user_id,
            created_by=created_by,
            cal_booking_id=body.cal_booking_id,
            cal_booking_uid=body.cal_booking_uid,
            event_type_id=body.event_type_id,
            event_type_title=body.event_type_title,
            event_type_slug=body.event_type_slug,
            title=body.title,
            description=body.description,
            start_time=start,
            end_time=end,
            time_zone=body.time_zone,
            duration=duration,
            buffer_minutes=default_buffer if body.buffer_minutes is None else body.buffer_minutes,
            location=body.location,
            attendees=attendees,
            attendee_emails=[str(a.email).lower() for a in attendees],
            attendee_names=[a.name for a in attendees],
            sensitivity=body.sensitivity,
            is_anonymous=body.is_anonymous,
            provider_ids=body.provider_ids,
            encrypted_intake_data=intake,
            redacted_description=redact(body.description, body.sensitivity, body.is_anonymous),
            metadata=body.metadata,
            status=BookingStatus.PENDING,
            created_at=now,
            updated_at=now,
        )

    # --- read -----------------------------------------------------------------------------------------
    async def get(self, actor: Actor, booking_id: str) -> BookingPublic:
        booking = await self.load(actor, booking_id)
        await self.audit.record(actor, "booking.read", "booking", booking.id, booking_id=booking.id)
        return self.public(booking, with_intake=True)

    async def list(
        self,
        actor: Actor,
        *,
        scope: Scope = "all",
        status: BookingStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
        for_user: str | None = None,
    ) -> list[BookingPublic]:
        """Bookings the caller hosts or booked; administrators may name another user (`for_user`)."""
        if for_user is not None and for_user != actor.user_id and not actor.is_admin:
            raise AppError(errors.ADMIN_REQUIRED, "Only administrators list other users' bookings")
        now = utcnow()
        statuses: list[str] | None = None
        start_from = rules.as_utc(since) if since is not None else None
        end_by: datetime | None = None
        if scope == "upcoming":
            start_from = now if start_from is None else max(now, start_from)
            statuses = [s.value for s in ACTIVE_STATUSES]
        elif scope == "past":
            end_by = now
        elif scope == "cancelled":
            statuses = [S.CANCELLED.value]
        if status is not None:
            if (scope == "cancelled" and status is not S.CANCELLED) or (
                scope == "upcoming" and status not in ACTIVE_STATUSES
            ):
                return []
            statuses = [status.value]
        rows = await self.repo.visible_to(
            for_user or actor.user_id,
            statuses=statuses,
            start_from=start_from,
            start_before=rules.as_utc(until) if until is not None else None,
            end_by=end_by,
            limit=limit,
            skip=offset,
            newest_first=scope == "past",
        )
        await self.audit.record(actor, "booking.list", "booking", metadata={"ids": [b.id for b in rows][:100]})
        return [self.public(b, with_intake=False) for b in rows]

    # --- lifecycle ------------------------------------------------------------------------------------
    async def transition(self, actor: Actor, booking_id: str, action: str, reason: str | None) -> BookingPublic:
        booking = await self.load(actor, booking_id)
        if action in HOST_ONLY and actor.user_id != booking.user_id:
            raise AppError(errors.FORBIDDEN, "Only the host accepts or rejects a booking")
        if not is_participant(actor, booking) and not actor.is_admin:
            raise AppError(errors.FORBIDDEN)
        if action in ("cancel", "reject") and not reason:
            raise AppError(errors.VALIDATION_FAILED, "A reason is required", details={"field": "reason"})
        self._check_status(booking, action)
        target = RESULT[action]
        updated = await self._apply(booking, {"status": target.value}, actor.user_id, target, reason)
        await self.audit.record(actor, f"booking.{action}", "booking", booking.id, booking_id=booking.id)
        if target in (S.CANCELLED, S.REJECTED):
            await self.jobs.on_booking_closed(updated)
            await self.forms.follow_booking(updated)
        await self.notify(updated, action)
        return self.public(updated, with_intake=True)

    async def guest_cancel(self, booking: BookingRecord, reason: str | None, new_nonce: str) -> BookingRecord:
        """A guest's signed link cancels: the link's nonce changes with it, so the link works once."""
        self._check_status(booking, "cancel")
        fields = {"status": S.CANCELLED.value, "guestNonce": new_nonce}
        updated = await self._apply(booking, fields, GUEST, S.CANCELLED, reason or "cancelled by the guest")
        await self.after_change(updated, "cancel")
        return updated

    async def reschedule(self, actor: Actor, booking_id: str, body: BookingReschedule) -> BookingPublic:
        booking = await self.load(actor, booking_id)
        updated = await self.move(booking, body, actor.user_id)
        await self.audit.record(
            actor,
            "booking.reschedule",
            "booking",
            booking.id,
            booking_id=booking.id,
            metadata={"version": updated.version},
        )
        await self.after_change(updated, "reschedule")
        return self.public(updated, with_intake=True)

    async def after_change(self, booking: BookingRecord, action: str) -> None:
        """Jobs, retention and sockets follow a booking's change (the same for hosts, bookers and guests)."""
        if booking.status in (S.CANCELLED, S.REJECTED):
            await self.jobs.on_booking_closed(booking)
        else:
            await self.jobs.on_booking_scheduled(booking)
        await self.forms.follow_booking(booking)
        await self.notify(booking, action)

    async def move(
        self, booking: BookingRecord, body: BookingReschedule, by: str, extra: dict[str, Any] | None = None
    ) -> BookingRecord:
        """Reschedule under every policy, ignoring the meeting's own old slot; `extra` fields change with it."""
        if body.expected_version is not None and body.expected_version != booking.version:
            raise AppError(errors.CONFLICT, details={"currentVersion": booking.version})
        start, end = rules.as_utc(body.start_time), rules.as_utc(body.end_time)
        duration = rules.check_interval(start, end)
        if start <= utcnow():
            raise AppError(errors.BOOKING_TIME_INVALID, "A meeting must start in the future")
        self._check_status(booking, "reschedule")
        moved = {
            "startTime": start,
            "endTime": end,
            "duration": duration,
            "status": S.RESCHEDULED.value,
            **(extra or {}),
        }

        async def write() -> BookingRecord:
            return await self._apply(booking, moved, by, S.RESCHEDULED, body.reason)

        return await self.policies.guarded_write(
            booking.user_id, start, end, booking.buffer_minutes, write, exclude_id=booking.id
        )

    def _check_status(self, booking: BookingRecord, action: str) -> None:
        if booking.status not in TRANSITIONS[action]:
            raise AppError(
                errors.BOOKING_STATUS_INVALID,
                f"A {booking.status.value} booking cannot be {action}ed",
                details={"status": booking.status.value, "action": action},
            )

    async def _apply(
        self, booking: BookingRecord, fields: dict[str, Any], by: str, status: BookingStatus, reason: str | None
    ) -> BookingRecord:
        now = utcnow()
        change = {"status": status.value, "at": now, "by": by, "reason": reason}
        history = {k: v for k, v in change.items() if v is not None}
        updated = await self.repo.change(booking, fields, history, now)
        if updated is None:
            raise AppError(errors.CONFLICT, "The booking changed meanwhile; read it again")
        return updated
