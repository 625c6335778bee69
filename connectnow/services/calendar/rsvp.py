"""Invitation answers without the hole: signed, single-use RSVP links, and invitations linked to accounts.

Holding an account whose e-mail matches an invitee's proves nothing (nobody verifies it). What proves it is
the link the organizer sent to that address: `{eventId}.{nonce}.{HMAC-SHA256(server key, "rsvp:{eventId}:
{nonce}")[:32]}`. The link answers once (`POST /rsvp/{token}`, no login), after which its nonce changes and
the organizer hands out a new one. A signed-in invitee can instead link the invitation to their account
(`POST /rsvp/{token}/link`, single use too): the event then shows in their calendars (`invited: true`) and
they answer it through `POST /calendar-events/{id}/responses`, matched on the account, not the e-mail.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.services.auth import Principal
from connectnow.services.calendar.events import EventService
from models.calendar_events import (
    Attendee,
    EventRecord,
    ResponseStatus,
    RsvpGrant,
    RsvpLink,
    RsvpView,
)

API_PREFIX = "/api/v1"
SIGNATURE_CHARS = 32
MAX_TOKEN = 120


class RsvpService:
    def __init__(self, events: EventService, digest: Callable[[str], str], public_url: str | None) -> None:
        self.events = events
        self.digest = digest  # HMAC-SHA256 with the server key (Secrets.digest)
        self.public_url = public_url.rstrip("/") if public_url else None

    def _sign(self, event_id: str, nonce: str) -> str:
        return self.digest(f"rsvp:{event_id}:{nonce}")[:SIGNATURE_CHARS]

    def token(self, event_id: str, nonce: str) -> str:
        return f"{event_id}.{nonce}.{self._sign(event_id, nonce)}"

    async def links(self, principal: Principal, event_id: str) -> list[RsvpLink]:
        """The organizer's links, one per invitee (a grant is made for each new attendee)."""
        event = await self.events.owned_event(principal, event_id)
        if event.user_id != principal.user_id:
            raise AppError(errors.NOT_FOUND, "No such event")  # the organizer's links, not a sharee's
        return await self.grant_links(event)

    async def grant_links(self, event: EventRecord) -> list[RsvpLink]:
        """Every invitee's link, granting the missing ones (the caller has checked who may ask)."""
        grants = {g.email: g for g in event.rsvp}
        wanted = [a.email.lower() for a in event.attendees if not a.is_organizer]
        missing = [e for e in dict.fromkeys(wanted) if e not in grants]
        if missing:
            fresh = [RsvpGrant(email=e, nonce=secrets.token_urlsafe(12)) for e in missing]
            event = await self._replace(event, rsvp=[*event.rsvp, *fresh])
            grants = {g.email: g for g in event.rsvp}
        out = []
        for email in dict.fromkeys(wanted):
            token = self.token(event.id, grants[email].nonce)
            path = f"{API_PREFIX}/rsvp/{token}"
            out.append(
                RsvpLink(
                    email=email, token=token, path=path, url=f"{self.public_url}{path}" if self.public_url else None
                )
            )
        return out

    async def _grant(self, token: str) -> tuple[EventRecord, RsvpGrant]:
        parts = token.split(".") if len(token) <= MAX_TOKEN else []
        if len(parts) != 3 or not hmac.compare_digest(self._sign(parts[0], parts[1]), parts[2]):
            raise AppError(errors.RSVP_LINK_INVALID)
        event = await self.events.events.get(parts[0])
        grant = next((g for g in event.rsvp if g.nonce == parts[1]), None) if event else None
        if event is None or grant is None or grant.email not in {a.email.lower() for a in event.attendees}:
            raise AppError(errors.RSVP_LINK_INVALID)
        return event, grant

    async def view(self, token: str) -> RsvpView:
        event, grant = await self._grant(token)
        return _view(event, grant.email)

    async def answer(self, token: str, status: ResponseStatus) -> RsvpView:
        event, grant = await self._grant(token)
        return _view(await self._use(event, grant, status=status), grant.email)

    async def link_account(self, principal: Principal, token: str) -> Attendee:
        event, grant = await self._grant(token)
        if event.user_id == principal.user_id:
            raise AppError(errors.VALIDATION_FAILED, "This is your own event")
        updated = await self._use(event, grant, user_id=principal.user_id)
        return next(a for a in updated.attendees if a.email.lower() == grant.email)

    async def _use(
        self, event: EventRecord, grant: RsvpGrant, *, status: ResponseStatus | None = None, user_id: str | None = None
    ) -> EventRecord:
        """Spend the link (a new nonce), and answer or link. The event's version guards a concurrent use."""
        now = utcnow()
        grants = [
            g.model_copy(
                update={"nonce": secrets.token_urlsafe(12), "used_at": now, **({"user_id": user_id} if user_id else {})}
            )
            if g.nonce == grant.nonce
            else g
            for g in event.rsvp
        ]
        attendees = [a.model_copy() for a in event.attendees]
        if status is not None:
            for attendee in attendees:
                if attendee.email.lower() == grant.email:
                    attendee.response_status = status
        invitees = list(event.invitee_user_ids)
        if user_id and user_id not in invitees:
            invitees.append(user_id)
        try:
            return await self._replace(event, rsvp=grants, attendees=attendees, invitee_user_ids=invitees)
        except AppError as exc:
            if exc.code == errors.CONFLICT.code:
                raise AppError(errors.RSVP_LINK_INVALID) from None  # changed meanwhile: maybe used, so refuse
            raise

    async def _replace(self, event: EventRecord, **changes: object) -> EventRecord:
        record = event.model_copy(update={**changes, "updated_at": utcnow(), "version": event.version + 1})
        return await self.events.save(event, record)


def _view(event: EventRecord, email: str) -> RsvpView:
    return RsvpView(
        event_id=event.id,
        title=event.title,
        start_time=event.start_time,
        end_time=event.end_time,
        time_zone=event.time_zone,
        all_day=event.all_day,
        location=event.location,
        email=email,
        response_status=_status_of(event, email),
    )


def _status_of(event: EventRecord, email: str) -> ResponseStatus:
    return next((a.response_status for a in event.attendees if a.email.lower() == email), ResponseStatus.NONE)
