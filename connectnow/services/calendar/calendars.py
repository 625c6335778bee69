"""Calendars: per-user, owner-only. Deleting one deletes its events; deleting a user deletes everything."""

from __future__ import annotations

import secrets as random_tokens
from datetime import datetime

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.calendar import (
    CalendarRepository,
    CategoryRepository,
    EventRepository,
    LocationRepository,
    ReminderRepository,
    SyncLogRepository,
    user_scope,
)
from connectnow.security import Secrets
from connectnow.services.auth import Principal
from connectnow.store.port import DocumentStore
from models.calendar import (
    CalendarCreate,
    CalendarPublic,
    CalendarRecord,
    CalendarShare,
    CalendarUpdate,
    FeedToken,
    ShareRole,
)

FEED_TOKEN_PREFIX = "cnf_"  # noqa: S105 - a prefix naming the token kind, not a secret
MAX_CALENDARS_PER_USER = 100


def calendar_public(record: CalendarRecord) -> CalendarPublic:
    public = CalendarPublic.model_validate(record, from_attributes=True)
    public.has_feed = record.feed_token_hash is not None
    return public


class CalendarService:
    def __init__(self, store: DocumentStore, secrets: Secrets, public_url: str | None) -> None:
        self.calendars = CalendarRepository(store)
        self.users = UserRepository(store)
        self.events = EventRepository(store)
        self.categories = CategoryRepository(store)
        self.locations = LocationRepository(store)
        self.sync_logs = SyncLogRepository(store)
        self.reminders = ReminderRepository(store)
        self.secrets = secrets
        self.public_url = (public_url or "").rstrip("/")

    async def owned(self, principal: Principal, calendar_id: str, *, for_write: bool = False) -> CalendarRecord:
        """The caller's calendar; someone else's is reported as missing, never as forbidden."""
        record = await self.calendars.get(calendar_id)
        if record is None or record.user_id != principal.user_id:
            raise AppError(errors.NOT_FOUND, "No such calendar")
        if for_write and not record.can_edit:
            raise AppError(errors.CALENDAR_READ_ONLY)
        return record

    async def accessible(self, principal: Principal, calendar_id: str, *, write: bool = False) -> CalendarRecord:
        """The caller's calendar, or one shared with them (`write` needs a read-write share). Only event
        reads and writes use this; managing the calendar itself stays with its owner (`owned`)."""
        record = await self.calendars.get(calendar_id)
        if record is not None and record.user_id != principal.user_id:
            share = next((s for s in record.shares if s.user_id == principal.user_id), None)
            if share is None:
                raise AppError(errors.NOT_FOUND, "No such calendar")
            if write and share.role is not ShareRole.WRITE:
                raise AppError(errors.CALENDAR_READ_ONLY, "This calendar is shared with you read-only")
            if write and not record.can_edit:
                raise AppError(errors.CALENDAR_READ_ONLY)
            return record
        return await self.owned(principal, calendar_id, for_write=write)

    async def share(self, principal: Principal, calendar_id: str, user_id: str, role: ShareRole) -> CalendarPublic:
        record = await self.owned(principal, calendar_id)
        if user_id == principal.user_id or await self.users.get(user_id) is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        shares = [s for s in record.shares if s.user_id != user_id] + [CalendarShare(user_id=user_id, role=role)]
        return await self._set_shares(record, shares)

    async def unshare(self, principal: Principal, calendar_id: str, user_id: str) -> CalendarPublic:
        record = await self.owned(principal, calendar_id)
        return await self._set_shares(record, [s for s in record.shares if s.user_id != user_id])

    async def _set_shares(self, record: CalendarRecord, shares: list[CalendarShare]) -> CalendarPublic:
        changes = {
            "shares": [s.model_dump(by_alias=True, mode="json") for s in shares],
            "sharedWith": [s.user_id for s in shares],
            "updatedAt": utcnow(),
        }
        updated = await self.calendars.set_owned(record.id, record.user_id, changes)
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such calendar")
        return calendar_public(updated)

    async def shared_with_me(self, principal: Principal) -> list[CalendarPublic]:
        found = await self.calendars.shared_with(principal.user_id)
        out = []
        for record in found:
            public = calendar_public(record)
            public.my_role = next(s.role for s in record.shares if s.user_id == principal.user_id)
            public.shares = []
            out.append(public)
        return out

    async def create(self, principal: Principal, data: CalendarCreate) -> CalendarPublic:
        existing = await self.calendars.for_user(principal.user_id)
        if len(existing) >= MAX_CALENDARS_PER_USER:
            raise AppError(errors.CONFLICT, f"At most {MAX_CALENDARS_PER_USER} calendars per user")
        now = utcnow()
        record = CalendarRecord(
            id=new_id(),
            user_id=principal.user_id,
            **data.model_dump(exclude={"is_primary"}),
            is_primary=data.is_primary or not existing,  # a user's first calendar is their primary one
            changed_at=now,
            created_at=now,
            updated_at=now,
        )
        if record.is_primary:
            await self._clear_primary(principal.user_id)
        await self.calendars.insert(record)
        return calendar_public(record)

    async def _clear_primary(self, user_id: str) -> None:
        await self.calendars.clear_primary(user_id)

    async def list(self, principal: Principal) -> list[CalendarPublic]:
        return [calendar_public(c) for c in await self.calendars.for_user(principal.user_id)]

    async def get(self, principal: Principal, calendar_id: str) -> CalendarPublic:
        return calendar_public(await self.owned(principal, calendar_id))

    async def update(self, principal: Principal, calendar_id: str, data: CalendarUpdate) -> CalendarPublic:
        await self.owned(principal, calendar_id)
        changes = data.model_dump(exclude_unset=True, exclude_none=True, by_alias=True)
        if not changes:
            return await self.get(principal, calendar_id)
        if changes.get("isPrimary"):
            await self._clear_primary(principal.user_id)
        now = utcnow()
        updated = await self.calendars.change_owned(calendar_id, principal.user_id, changes, now)
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such calendar")
        return calendar_public(updated)

    async def delete(self, principal: Principal, calendar_id: str) -> int:
        """Delete a calendar and its events (seed integrity rule 3); returns the number of events deleted."""
        await self.owned(principal, calendar_id)
        return await self._delete_calendar(calendar_id)

    async def _delete_calendar(self, calendar_id: str) -> int:
        # Usage counts first, while the events still say what they used.
        async for event in self.events.iterate({"calendarId": calendar_id, "recurrenceMasterId": None}):
            await self.categories.bump_usage(event.category_id, -1)
            await self.locations.bump_usage(event.location_id, -1)
        async for event in self.events.iterate({"calendarId": calendar_id}):
            await self.reminders.cancel(event.id)
        deleted = await self.events.delete({"calendarId": calendar_id})
        await self.sync_logs.delete({"calendarId": calendar_id})
        await self.calendars.delete({"id": calendar_id})
        return deleted

    async def admin_delete_user_data(self, principal: Principal, user_id: str) -> dict[str, int]:
        """An administrator removes a (deleted or departing) user's calendar data."""
        if not principal.user.is_admin:
            raise AppError(errors.ADMIN_REQUIRED)
        return await self.delete_user_data(user_id)

    async def delete_user_data(self, user_id: str) -> dict[str, int]:
        """Seed integrity rule 2: a deleted user's calendars, events and personal categories go too.

        Personal locations go as well (they are the user's). Global categories and locations stay."""
        counts = {"calendars": 0, "events": 0}
        for calendar in await self.calendars.for_user(user_id):
            counts["events"] += await self._delete_calendar(calendar.id)
            counts["calendars"] += 1
        counts["categories"] = await self.categories.delete({"scope": user_scope(user_id)})
        counts["locations"] = await self.locations.delete({"scope": user_scope(user_id)})
        counts["syncLogs"] = await self.sync_logs.delete({"userId": user_id})
        return counts

    # --- ICS feed tokens ---------------------------------------------------------------------------------
    async def rotate_feed(self, principal: Principal, calendar_id: str) -> FeedToken:
        """A new secret feed URL; the previous one stops working. Only the token's digest is stored."""
        await self.owned(principal, calendar_id)
        token = FEED_TOKEN_PREFIX + random_tokens.token_urlsafe(32)
        await self.calendars.set_fields(
            calendar_id, {"feedTokenHash": self.secrets.digest(token), "updatedAt": utcnow()}
        )
        return FeedToken(token=token, url=f"{self.public_url}/api/v1/ics/feeds/{token}.ics")

    async def revoke_feed(self, principal: Principal, calendar_id: str) -> None:
        await self.owned(principal, calendar_id)
        await self.calendars.set_fields(calendar_id, {"feedTokenHash": None})

    async def by_feed_token(self, token: str) -> CalendarRecord:
        if not token.startswith(FEED_TOKEN_PREFIX) or len(token) > 128:
            raise AppError(errors.NOT_FOUND, "No such feed")
        record = await self.calendars.by_feed_hash(self.secrets.digest(token))
        if record is None or not record.is_active:
            raise AppError(errors.NOT_FOUND, "No such feed")
        return record

    async def touch(self, calendar_id: str, now: datetime) -> None:
        await self.calendars.touch(calendar_id, now)
