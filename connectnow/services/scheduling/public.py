"""Public booking at a host's scheduling link (seed 003 `schedulingUsername`, `schedulingLink`).

A guest without an account reads the host's page, lists open slots and books with a name and an e-mail.
The booking goes through `BookingService.place`, so every policy and the per-host write guard apply as for
signed-in bookers. The answer carries an ICS invitation and two signed links, cancel and reschedule:
`{bookingId}.{nonce}.{HMAC-SHA256(server key, "guest-booking:{action}:{bookingId}:{nonce}")[:32]}`. Both sign
the booking's one `guestNonce`; a cancel or reschedule replaces it, so each link changes the booking once
(a reschedule answers fresh links). The same invitation is mailed to the guest after the booking is stored
(REQUEST; a reschedule mails the new links, a cancel a CANCEL) through the mail outbox, never inside the
request (connectnow/services/mail_outbox.py). The host's own calendar events count as busy time when the calendar
sidecar is wired (`busy`): they remove slots and refuse bookings (`details.rule: "calendarBusy"`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from icalendar import Calendar, Event, vCalAddress

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.mail import Attachment
from connectnow.repositories.accounts import UserRepository
from connectnow.services.scheduling import rules
from connectnow.services.scheduling.access import Actor
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.bookings import GUEST, BookingService
from connectnow.services.scheduling.policies import PolicyService
from connectnow.store.port import DuplicateKeyError
from models.mail import MailPublic
from models.scheduling import AttendeeIn, BookingCreate, BookingRecord, BookingReschedule, PolicyRecord
from models.scheduling_public import (
    EventType,
    GuestBookingCreate,
    GuestBookingReceipt,
    GuestReschedule,
    HostProfile,
    HostProfileUpdate,
    PublicHost,
    PublicSlots,
)
from models.users import UserRecord

if TYPE_CHECKING:
    from connectnow.services.calendar.events import EventService
    from connectnow.services.mail_outbox import MailOutbox

API_PREFIX = "/api/v1"
PUBLIC_PREFIX = f"{API_PREFIX}/public/scheduling"
SIGNATURE_CHARS = 32
PRODID = "-//ConnectNow//Scheduling//EN"
Span = tuple[datetime, datetime]
BusyLookup = Callable[[UserRecord, datetime, datetime], Awaitable[list[Span]]]
Throttle = Callable[[str | None], Awaitable[None]]
PROFILE_FIELDS = ("schedulingUsername", "churchName", "role", "calUserId")
CLOSED_STATUSES = ("cancelled", "rejected")
# The subject of the guest's mail per booking change; other changes (completed, no-show) mail nothing.
GUEST_MAIL_LABELS = {"create": "Invitation", "reschedule": "Updated invitation", "accept": "Confirmed",
                     "cancel": "Cancelled", "reject": "Declined"}  # fmt: skip


class PublicBookingService:
    def __init__(
        self,
        policies: PolicyService,
        bookings: BookingService,
        audit: AuditService,
        digest: Callable[[str], str],
        throttle: Throttle,
        public_url: str | None,
        busy: BusyLookup | None = None,
        outbox: MailOutbox | None = None,
    ) -> None:
        self.policies = policies
        self.bookings = bookings
        self.audit = audit
        self.users = UserRepository(policies.policies.store)
        self.digest = digest  # HMAC-SHA256 with the server key (Secrets.digest)
        self.throttle = throttle  # per client address (the sign-in address bucket)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.busy = busy
        self.outbox = outbox  # the guest's invitation mails (None: built without mail)
        bookings.guest_mail = self._guest_changed  # every change of a guest booking, by guest or host

    # --- the host's profile ----------------------------------------------------------------------------
    def link(self, username: str) -> str:
        path = f"{PUBLIC_PREFIX}/{username}"
        return f"{self.public_url}{path}" if self.public_url else path

    def profile_of(self, policy: PolicyRecord) -> HostProfile:
        username = policy.scheduling_username
        return HostProfile(
            user_id=policy.user_id,
            scheduling_username=username,
            scheduling_link=self.link(username) if username else None,
            church_name=policy.church_name,
            role=policy.role,
            cal_user_id=policy.cal_user_id,
            event_types=[EventType.model_validate(t) for t in policy.event_types],
        )

    async def get_profile(self, actor: Actor) -> HostProfile:
        return self.profile_of(await self.policies.policy_for(actor.user_id))

    async def set_profile(self, actor: Actor, body: HostProfileUpdate) -> HostProfile:
        ids = [t.id for t in body.event_types]
        if len(set(ids)) != len(ids) or len({t.slug for t in body.event_types}) != len(ids):
            raise AppError(errors.VALIDATION_FAILED, "Event type ids and slugs must be unique")
        await self.policies.policy_for(actor.user_id)
        values = body.model_dump(by_alias=True, mode="json")
        # A cleared unique field (None) is removed, not stored as null: a sparse index lets only one null.
        fields: dict[str, Any] = {"eventTypes": values["eventTypes"], "updatedAt": utcnow()}
        fields.update({f: values[f] for f in PROFILE_FIELDS})
        try:
            updated = await self.policies.policies.set_for_user(actor.user_id, fields)
        except DuplicateKeyError as exc:
            raise AppError(
                errors.CONFLICT, "This scheduling username or Cal.com user id is taken", details={"index": exc.index}
            ) from exc
        assert updated is not None
        await self.audit.record(actor, "profile.update", "scheduling_profile", actor.user_id)
        return self.profile_of(updated)

    # --- the public page --------------------------------------------------------------------------------
    async def _host(self, username: str) -> tuple[UserRecord, PolicyRecord]:
        policy = await self.policies.policies.find_one({"schedulingUsername": username})
        host = await self.users.get(policy.user_id) if policy else None
        if policy is None or host is None or not host.is_active or host.is_banned:
            raise AppError(errors.NOT_FOUND, "No such scheduling page")
        return host, policy

    async def page(self, username: str) -> PublicHost:
        host, policy = await self._host(username)
        return PublicHost(
            scheduling_username=username,
            scheduling_link=self.link(username),
            display_name=host.display_name or host.username,
            church_name=policy.church_name,
            role=policy.role,
            time_zone=policy.time_zone,
            event_types=[EventType.model_validate(t) for t in policy.event_types],
        )

    async def slots(self, username: str, start: datetime, end: datetime, duration_minutes: int) -> PublicSlots:
        host, _ = await self._host(username)
        found = await self.policies.availability(host.id, start, end, duration_minutes, duration_minutes)
        busy = await self._busy(host, rules.as_utc(start), rules.as_utc(end))
        free = [s for s in found.slots if not _clashes(s.start, s.end, busy)]
        return PublicSlots(duration_minutes=duration_minutes, slots=free)

    async def _busy(self, host: UserRecord, start: datetime, end: datetime) -> list[Span]:
        return [] if self.busy is None else await self.busy(host, start, end)

    async def _check_calendar(self, host: UserRecord, start: datetime, end: datetime) -> None:
        if _clashes(start, end, await self._busy(host, start, end)):
            raise AppError(
                errors.SCHEDULING_POLICY_VIOLATION,
                "The host is busy then",
                details={"rule": "calendarBusy"},
            )

    # --- booking, cancelling, rescheduling -------------------------------------------------------------
    async def book(self, username: str, body: GuestBookingCreate, address: str | None) -> GuestBookingReceipt:
        await self.throttle(address)
        host, policy = await self._host(username)
        kind = next((t for t in policy.event_types if t["id"] == body.event_type_id), None)
        if kind is None:
            raise AppError(errors.NOT_FOUND, "No such event type", details={"field": "eventTypeId"})
        event_type = EventType.model_validate(kind)
        start = rules.as_utc(body.start_time)
        end = start + timedelta(minutes=event_type.duration_minutes)
        await self._check_calendar(host, start, end)
        # Built from values validated already (the guest's body, the host's event type), hence no re-validation.
        create = BookingCreate.model_construct(
            user_id=host.id,
            event_type_id=event_type.id,
            event_type_title=event_type.title,
            event_type_slug=event_type.slug,
            title=f"{event_type.title} with {body.name}",
            description=body.notes,
            start_time=start,
            end_time=end,
            time_zone=body.time_zone,
            attendees=[AttendeeIn.model_construct(name=body.name, email=body.email, time_zone=body.time_zone)],
        )
        booking = await self.bookings.place(create, GUEST, guest_nonce=secrets.token_urlsafe(12))
        await self._audit("booking.create", booking, address)
        await self.bookings.after_create(booking)
        return self.receipt(booking, host, username)

    async def cancel(self, booking_id: str, token: str, reason: str | None, address: str | None) -> GuestBookingReceipt:
        await self.throttle(address)
        booking, host, username = await self._redeem(booking_id, token, "cancel")
        updated = await self.bookings.guest_cancel(booking, reason, secrets.token_urlsafe(12))
        await self._audit("booking.cancel", updated, address)
        return self.receipt(updated, host, username, links=False)

    async def reschedule(
        self, booking_id: str, token: str, body: GuestReschedule, address: str | None
    ) -> GuestBookingReceipt:
        await self.throttle(address)
        booking, host, username = await self._redeem(booking_id, token, "reschedule")
        start = rules.as_utc(body.start_time)
        end = start + timedelta(minutes=booking.duration)
        await self._check_calendar(host, start, end)
        move = BookingReschedule.model_construct(
            start_time=start, end_time=end, reason=body.reason or "rescheduled by the guest", expected_version=None
        )
        updated = await self.bookings.move(booking, move, GUEST, {"guestNonce": secrets.token_urlsafe(12)})
        await self._audit("booking.reschedule", updated, address)
        await self.bookings.after_change(updated, "reschedule")
        return self.receipt(updated, host, username)

    async def _audit(self, action: str, booking: BookingRecord, address: str | None) -> None:
        meta = {"actor": GUEST, "ipAddress": address}
        await self.audit.record(None, action, "booking", booking.id, booking_id=booking.id, metadata=meta)

    async def invitations(self, actor: Actor, booking_id: str) -> list[MailPublic]:
        """The guest's mails for a booking the caller may see (its host, attendees with accounts, admins)."""
        booking = await self.bookings.load(actor, booking_id)
        return [] if self.outbox is None else await self.outbox.about(f"booking:{booking.id}")

    async def _guest_changed(self, booking: BookingRecord, action: str) -> None:
        """Queue the guest's mail for a change of their booking (after it is stored); the outbox sends it."""
        label = GUEST_MAIL_LABELS.get(action)
        host = await self.users.get(booking.user_id) if label and self.outbox is not None else None
        if label is None or host is None:
            return
        policy = await self.policies.policies.for_user(host.id)
        closed = booking.status.value in CLOSED_STATUSES
        receipt = self.receipt(booking, host, policy.scheduling_username if policy else None, links=not closed)
        await self._mail("booking.cancellation" if closed else "booking.invitation", label, booking, receipt)

    async def _mail(self, kind: str, label: str, booking: BookingRecord, receipt: GuestBookingReceipt) -> None:
        if self.outbox is None or not booking.attendees or receipt.invitation is None:
            return
        method = "CANCEL" if kind == "booking.cancellation" else "REQUEST"
        lines = [booking.title, f"When: {booking.start_time:%Y-%m-%d %H:%M} - {booking.end_time:%H:%M} UTC"]
        if receipt.cancel_path and receipt.reschedule_path:
            lines += [
                "",
                f"Cancel (POST): {self._absolute(receipt.cancel_path)}",
                f"Reschedule (POST, with a new startTime): {self._absolute(receipt.reschedule_path)}",
            ]
        ics = Attachment("invite.ics", "calendar", receipt.invitation, {"method": method})
        to = booking.attendees[0].email
        await self.outbox.enqueue(
            kind, f"booking:{booking.id}", to, f"{label}: {booking.title}", "\n".join(lines), [ics], method=method
        )

    # --- signed links and the invitation ----------------------------------------------------------------
    def _sign(self, action: str, booking_id: str, nonce: str) -> str:
        return self.digest(f"guest-booking:{action}:{booking_id}:{nonce}")[:SIGNATURE_CHARS]

    def token(self, action: str, booking_id: str, nonce: str) -> str:
        return f"{booking_id}.{nonce}.{self._sign(action, booking_id, nonce)}"

    async def _redeem(self, booking_id: str, token: str, action: str) -> tuple[BookingRecord, UserRecord, str | None]:
        """The booking a signed link is for. The link's signature and its booking's current nonce decide; the
        username in the path does not (links keep working if the host renames the page)."""
        parts = token.split(".")
        if (
            len(parts) != 3
            or parts[0] != booking_id
            or not hmac.compare_digest(self._sign(action, parts[0], parts[1]), parts[2])
        ):
            raise AppError(errors.BOOKING_LINK_INVALID)
        booking = await self.bookings.record(booking_id)
        if booking is None or booking.guest_nonce is None or not hmac.compare_digest(booking.guest_nonce, parts[1]):
            raise AppError(errors.BOOKING_LINK_INVALID)
        host = await self.users.get(booking.user_id)
        if host is None:
            raise AppError(errors.BOOKING_LINK_INVALID)
        policy = await self.policies.policies.for_user(host.id)
        return booking, host, policy.scheduling_username if policy else None

    def _path(self, username: str | None, booking: BookingRecord, action: str, token: str) -> str:
        return f"{PUBLIC_PREFIX}/{username or '-'}/bookings/{booking.id}/{action}?token={token}"

    def receipt(
        self, booking: BookingRecord, host: UserRecord, username: str | None, *, links: bool = True
    ) -> GuestBookingReceipt:
        out = GuestBookingReceipt(
            booking_id=booking.id,
            status=booking.status.value,
            title=booking.title,
            start_time=booking.start_time,
            end_time=booking.end_time,
        )
        if links and booking.guest_nonce:
            cancel = self.token("cancel", booking.id, booking.guest_nonce)
            move = self.token("reschedule", booking.id, booking.guest_nonce)
            out.cancel_token, out.reschedule_token = cancel, move
            out.cancel_path = self._path(username, booking, "cancel", cancel)
            out.reschedule_path = self._path(username, booking, "reschedule", move)
        out.invitation = self.invitation(booking, host, out)
        return out

    def _absolute(self, path: str) -> str:
        return f"{self.public_url}{path}" if self.public_url else path

    def invitation(self, booking: BookingRecord, host: UserRecord, receipt: GuestBookingReceipt) -> str:
        """An iTIP REQUEST (CANCEL once cancelled) with the signed links in the description and X- fields."""
        cal = Calendar()
        cal.add("prodid", PRODID)
        cal.add("version", "2.0")
        cancelled = booking.status.value in CLOSED_STATUSES
        cal.add("method", "CANCEL" if cancelled else "REQUEST")
        event = Event()
        event.add("uid", f"{booking.id}@connectnow")
        event.add("dtstamp", utcnow())
        event.add("sequence", booking.version)
        event.add("summary", booking.title)
        event.add("dtstart", booking.start_time)
        event.add("dtend", booking.end_time)
        event.add("status", "CANCELLED" if cancelled else "TENTATIVE")
        organizer = vCalAddress(f"mailto:{host.email}")
        organizer.params["CN"] = host.display_name or host.username
        event.add("organizer", organizer)
        for attendee in booking.attendees:
            address = vCalAddress(f"mailto:{attendee.email}")
            address.params["CN"] = attendee.name
            address.params["PARTSTAT"] = "ACCEPTED"
            event.add("attendee", address)
        lines = []
        if receipt.cancel_path and receipt.reschedule_path:
            cancel, move = self._absolute(receipt.cancel_path), self._absolute(receipt.reschedule_path)
            lines = [f"Cancel (POST): {cancel}", f"Reschedule (POST): {move}"]
            event.add("x-connectnow-cancel-url", cancel)
            event.add("x-connectnow-reschedule-url", move)
        if lines:
            event.add("description", "\n".join(lines))
        cal.add_component(event)
        return bytes(cal.to_ical()).decode()


def _clashes(start: datetime, end: datetime, busy: list[Span]) -> bool:
    return any(b_start < end and start < b_end for b_start, b_end in busy)


def host_busy(events: EventService) -> BusyLookup:
    """Busy time from the calendar sidecar: the host's free/busy over their own calendars and the events they
    were invited to, asked as the host (only spans come back, never titles)."""
    from connectnow.services.auth import Principal

    async def busy(host: UserRecord, start: datetime, end: datetime) -> list[Span]:
        found = await events.free_busy(Principal(user=host), None, start, end)
        return [(span.start, span.end) for span in found.busy]

    return busy
