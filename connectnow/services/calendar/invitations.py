"""Invitation mail for calendar events (issue 19), as Google Calendar's `sendUpdates=all` does.

A create or update with `sendUpdates=all` mails every attendee but the organizer an iTIP REQUEST (the event as
an ICS attachment) with their own signed RSVP link (rsvp.py); a delete with `sendUpdates=all` mails a CANCEL.
Mails are queued after the write is stored and sent by the outbox worker (connectnow/services/mail_outbox.py);
the request never waits on SMTP. A user may queue at most `CONNECTNOW_INVITATION_MAILS_PER_DAY` invitation
mails per 24 hours (checked before the write: nothing is stored when it would pass the bound).
"""

from __future__ import annotations

from typing import Literal

from connectnow.mail import Attachment
from connectnow.services.auth import Principal
from connectnow.services.calendar.events import EventService
from connectnow.services.calendar.ics_codec import calendar_header, vevent
from connectnow.services.calendar.rsvp import RsvpService
from connectnow.services.mail_outbox import MailOutbox
from models.calendar_events import EventCreate, EventRecord, EventSaved, EventUpdate
from models.mail import MailPublic

Method = Literal["REQUEST", "CANCEL"]


def invitees(event: EventRecord) -> list[str]:
    return list(dict.fromkeys(a.email.lower() for a in event.attendees if not a.is_organizer))


def invitation_ics(event: EventRecord, method: Method) -> str:
    """The event as an iTIP message: REQUEST as it stands, CANCEL with STATUS:CANCELLED and a new SEQUENCE."""
    cal = calendar_header(event.title)
    cal.add("method", method)
    if method == "CANCEL":
        event = event.model_copy(update={"sequence": event.sequence + 1})
    comp = vevent(event)
    if method == "CANCEL":
        comp.add("status", "CANCELLED")
    cal.add_component(comp)
    cal.add_missing_timezones()
    return bytes(cal.to_ical()).decode()


class InvitationService:
    def __init__(self, events: EventService, rsvp: RsvpService, outbox: MailOutbox) -> None:
        self.events = events
        self.rsvp = rsvp
        self.outbox = outbox

    # --- writes with sendUpdates=all: check the quota, write, then queue --------------------------------
    async def create(self, principal: Principal, data: EventCreate) -> EventSaved:
        await self._preflight(principal, len(data.attendees or []))
        saved = await self.events.create(principal, data)
        await self.send(principal, await self.events.owned_event(principal, saved.event.id), "REQUEST")
        return saved

    async def update(self, principal: Principal, event_id: str, data: EventUpdate) -> EventSaved:
        before = await self.events.owned_event(principal, event_id)
        await self._preflight(principal, len(data.attendees if data.attendees is not None else before.attendees))
        saved = await self.events.update(principal, event_id, data)
        await self.send(principal, await self.events.owned_event(principal, event_id), "REQUEST")
        return saved

    async def delete(self, principal: Principal, event_id: str) -> None:
        await self._preflight(principal, len((await self.events.owned_event(principal, event_id)).attendees))
        await self.send(principal, await self.events.delete(principal, event_id), "CANCEL")

    async def _preflight(self, principal: Principal, count: int) -> None:
        """Before the write: refuse (MAIL_QUOTA_EXCEEDED) if these mails would pass the daily bound."""
        if count:
            await self.outbox.check_quota(principal.user_id, count)

    async def send(self, principal: Principal, event: EventRecord, method: Method) -> int:
        """Queue one mail per invitee; answers how many were queued."""
        emails = invitees(event)
        if not emails:
            return 0
        links = {link.email: link for link in await self.rsvp.grant_links(event)} if method == "REQUEST" else {}
        if links:
            event = await self.events.events.get(event.id) or event  # the grants bumped its version
        ics = Attachment("invite.ics", "calendar", invitation_ics(event, method), {"method": method})
        kind, label = ("event.invitation", "Invitation") if method == "REQUEST" else ("event.cancellation", "Cancelled")
        when = f"When: {event.start_time:%Y-%m-%d %H:%M} - {event.end_time:%Y-%m-%d %H:%M} UTC"
        for email in emails:
            lines = [event.title, when, *([f"Where: {event.location}"] if event.location else [])]
            if email in links:
                link = links[email].url or links[email].path
                lines += ["", f"See it: GET {link}", f'Answer: POST {link} {{"responseStatus": "accepted"}}']
            await self.outbox.enqueue(
                kind, f"event:{event.id}", email, f"{label}: {event.title}", "\n".join(lines), [ics],
                sender_id=principal.user_id, method=method,
            )  # fmt: skip
        return len(emails)

    async def status(self, principal: Principal, event_id: str) -> list[MailPublic]:
        """The event's invitation mails and how far each got: for those who may change the event."""
        event = await self.events.owned_event(principal, event_id)
        await self.events.calendars.accessible(principal, event.calendar_id, write=True)
        return await self.outbox.about(f"event:{event.id}")
