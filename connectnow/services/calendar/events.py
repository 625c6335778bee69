"""Events: create, read, update, delete, attendee responses; usage counts and conflicts kept correct.

Series edits (one instance, 'this and following') live in series.py; range reads in queries.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.hub import user_room
from connectnow.repositories.calendar import EventRepository, user_scope
from connectnow.services.auth import Principal
from connectnow.services.calendar import recurrence
from connectnow.services.calendar.calendars import CalendarService
from connectnow.services.calendar.queries import MAX_RANGE_ITEMS, MAX_SERIES_PER_CALENDAR, EventQueries, check_range
from connectnow.services.calendar.rules import check_recurrence, check_times, convert_times, range_end
from connectnow.store.port import DocumentStore
from models.calendar import GLOBAL_SCOPE, LocationRecord
from models.calendar_events import (
    Attendee,
    AttendeeResponse,
    BusySpan,
    EventCreate,
    EventFields,
    EventInstance,
    EventPublic,
    EventRecord,
    EventSaved,
    EventUpdate,
    FreeBusy,
)

# Fields a PATCH may clear with `clearFields` (camelCase, as on the wire).
CLEARABLE = frozenset({
    "description", "location", "locationId", "category", "categoryId", "setupStartTime", "setupEndTime",
    "teardownStartTime", "teardownEndTime", "internalNotes", "budgetAllocated", "clientContact",
    "internalCategory", "priorityLevel", "reminder",
})  # fmt: skip


class ReminderScheduler(Protocol):
    async def check(self, event: EventRecord) -> None: ...

    async def schedule(self, event: EventRecord) -> None: ...

    async def cancel(self, event_id: str) -> None: ...


def public(event: EventRecord) -> EventPublic:
    return EventPublic.model_validate(event, from_attributes=True)


def field_values(
    fields: EventFields, zone: str, *, exclude: set[str] | None = None, only_set: bool = True
) -> dict[str, Any]:
    """The fields a client set (or all, with defaults), times in UTC, as python names for `EventRecord`."""
    values = fields.model_dump(exclude_unset=only_set, exclude=exclude or set(), by_alias=False)
    values = {k: v for k, v in values.items() if v is not None}
    return convert_times(values, zone)


def check_location_fits(event: EventRecord, location: LocationRecord) -> None:
    """Seed 004's location checks: the equipment the event needs is there (names compared in any case), and
    the event books at least the setup time the location requires (`setupStartTime`..`setupEndTime`)."""
    available = {name.casefold() for name in location.equipment_available}
    missing = [name for name in event.equipment_required if name.casefold() not in available]
    if missing:
        raise AppError(
            errors.LOCATION_EQUIPMENT_MISSING,
            f"{location.name} has no {', '.join(missing)}",
            details={"missing": missing, "equipmentAvailable": location.equipment_available},
        )
    required = location.setup_time_required
    given = 0.0
    if event.setup_start_time is not None and event.setup_end_time is not None:
        given = (event.setup_end_time - event.setup_start_time).total_seconds() / 60
    if required and given < required:
        raise AppError(
            errors.LOCATION_SETUP_TOO_SHORT,
            f"{location.name} needs {required} minutes of setup (setupStartTime..setupEndTime), not {given:g}",
            details={"setupTimeRequired": required, "setupMinutes": given},
        )


class EventService:
    def __init__(
        self, store: DocumentStore, calendars: CalendarService, hub: Emitter, reminders: ReminderScheduler
    ) -> None:
        self.events = EventRepository(store)
        self.calendars = calendars
        self.queries = EventQueries(self.events)
        self.hub = hub
        self.reminders = reminders

    # --- references ------------------------------------------------------------------------------------
    async def check_references(self, principal: Principal, event: EventRecord) -> None:
        """Category and location must be the caller's or global; attendees must fit the location."""
        scopes = (user_scope(principal.user_id), GLOBAL_SCOPE)
        if event.category_id:
            category = await self.calendars.categories.get(event.category_id)
            if category is None or category.scope not in scopes:
                raise AppError(errors.NOT_FOUND, "No such category")
        if event.location_id:
            location = await self.calendars.locations.get(event.location_id)
            if location is None or location.scope not in scopes:
                raise AppError(errors.NOT_FOUND, "No such location")
            if location.capacity is not None and len(event.attendees) > location.capacity:
                raise AppError(
                    errors.LOCATION_CAPACITY_EXCEEDED,
                    f"{location.name} holds {location.capacity}; the event has {len(event.attendees)} attendees",
                    details={"capacity": location.capacity, "attendees": len(event.attendees)},
                )
            check_location_fits(event, location)

    async def validate(self, principal: Principal, event: EventRecord) -> EventRecord:
        check_times(event)
        check_recurrence(event)
        await self.check_series_quota(event)
        await self.check_references(principal, event)
        await self.reminders.check(event)
        return event.model_copy(update={"range_end": range_end(event)})

    async def check_series_quota(self, event: EventRecord, *, adding: int = 1) -> None:
        """Range queries and conflict checks expand every series of a calendar: bound how many it holds."""
        if event.recurrence_pattern is None or event.recurrence_master_id is not None:
            return
        others = await self.events.series_count(event.calendar_id, besides=event.id)
        if others + adding > MAX_SERIES_PER_CALENDAR:
            raise AppError(
                errors.CALENDAR_SERIES_LIMIT,
                f"A calendar holds at most {MAX_SERIES_PER_CALENDAR} recurring series",
                details={"maxSeries": MAX_SERIES_PER_CALENDAR},
            )

    async def adjust_usage(self, old: EventRecord | None, new: EventRecord | None) -> None:
        if old is not None and old.recurrence_master_id is not None:
            return  # exceptions do not count: their series does
        old_cat, new_cat = old.category_id if old else None, new.category_id if new else None
        old_loc, new_loc = old.location_id if old else None, new.location_id if new else None
        if old_cat != new_cat:
            await self.calendars.categories.bump_usage(old_cat, -1)
            await self.calendars.categories.bump_usage(new_cat, 1)
        if old_loc != new_loc:
            await self.calendars.locations.bump_usage(old_loc, -1)
            await self.calendars.locations.bump_usage(new_loc, 1)

    async def readers(self, calendar_id: str) -> list[str]:
        """Who may see a calendar's events right now: its owner and every user it is shared with (read or
        read-write). Read at each announcement, so a revoked share stops the events at once."""
        calendar = await self.calendars.calendars.get(calendar_id)
        return [] if calendar is None else [calendar.user_id, *(s.user_id for s in calendar.shares)]

    async def announce(self, kind: str, event: EventRecord, *, previous_calendar_id: str | None = None) -> None:
        """`calendar:event.{kind}` to every reader's user room; after a move, readers of the old calendar who
        cannot see the new one get `calendar:event.deleted` (the event left their view)."""
        now = utcnow()
        await self.calendars.touch(event.calendar_id, now)
        readers = await self.readers(event.calendar_id) or [event.user_id]
        await self._emit(kind, event, readers)
        if previous_calendar_id is not None and previous_calendar_id != event.calendar_id:
            await self.calendars.touch(previous_calendar_id, now)
            gone = [u for u in await self.readers(previous_calendar_id) if u not in readers]
            if gone:
                await self._emit("deleted", event.model_copy(update={"calendar_id": previous_calendar_id}), gone)

    async def _emit(self, kind: str, event: EventRecord, user_ids: list[str]) -> None:
        await self.hub.emit(
            f"calendar:event.{kind}",
            {"calendarId": event.calendar_id, "eventId": event.id, "event": public(event)},
            room=[user_room(u) for u in dict.fromkeys(user_ids)],
        )

    # --- create, read ----------------------------------------------------------------------------------
    async def create(self, principal: Principal, data: EventCreate) -> EventSaved:
        calendar = await self.calendars.accessible(principal, data.calendar_id, write=True)
        now = utcnow()
        values = field_values(data, data.time_zone, exclude={"recurrence_pattern"}, only_set=False)
        pattern = data.recurrence_pattern.model_dump() if data.recurrence_pattern else None
        event_id = new_id()
        record = EventRecord(
            id=event_id,
            user_id=calendar.user_id,  # the calendar's owner, also when a read-write share creates it
            uid=f"{event_id}@connectnow",
            **values,
            is_recurring=pattern is not None,
            recurrence_pattern=pattern,
            range_end=values["end_time"],
            created_at=now,
            updated_at=now,
            created_by=principal.user_id,
            last_modified_by=principal.user_id,
        )
        record = await self.validate(principal, record)
        conflicts = await self.queries.conflicts(record, principal.user_id)
        await self.events.insert(record)
        await self.adjust_usage(None, record)
        await self.reminders.schedule(record)
        await self.announce("created", record)
        return EventSaved(event=public(record), conflicts=conflicts)

    async def owned_event(self, principal: Principal, event_id: str) -> EventRecord:
        event = await self.events.get(event_id)
        if event is None:
            raise AppError(errors.NOT_FOUND, "No such event")
        if event.user_id != principal.user_id:
            try:
                await self.calendars.accessible(principal, event.calendar_id)  # shared with the caller
            except AppError:
                raise AppError(errors.NOT_FOUND, "No such event") from None
        return event

    async def get(self, principal: Principal, event_id: str) -> EventPublic:
        return public(await self.owned_event(principal, event_id))

    async def range(
        self, principal: Principal, calendar_ids: list[str] | None, time_min: Any, time_max: Any
    ) -> list[EventInstance]:
        check_range(time_min, time_max)
        if calendar_ids:
            ids = [(await self.calendars.accessible(principal, cid)).id for cid in dict.fromkeys(calendar_ids)]
            return await self.queries.expand(ids, time_min, time_max)
        ids = [c.id for c in await self.calendars.calendars.for_user(principal.user_id) if c.is_active]
        own = await self.queries.expand(ids, time_min, time_max)
        invited = await self.queries.invited(principal.user_id, time_min, time_max)
        return sorted([*own, *invited], key=lambda i: (i.start_time, i.event_id))[:MAX_RANGE_ITEMS]

    async def free_busy(
        self, principal: Principal, calendar_ids: list[str] | None, time_min: datetime, time_max: datetime
    ) -> FreeBusy:
        """Busy spans (overlapping and touching occurrences merged), clipped to the range."""
        spans: list[BusySpan] = []
        for item in await self.range(principal, calendar_ids, time_min, time_max):
            start, end = max(item.start_time, time_min), min(item.end_time, time_max)
            if spans and start <= spans[-1].end:
                spans[-1] = BusySpan(start=spans[-1].start, end=max(spans[-1].end, end))
            elif end > start:
                spans.append(BusySpan(start=start, end=end))
        return FreeBusy(time_min=time_min, time_max=time_max, busy=spans)

    async def search(
        self, principal: Principal, text: str, calendar_ids: list[str] | None, time_min: datetime, time_max: datetime
    ) -> list[EventInstance]:
        """Occurrences in the range whose title or location contains every word of `text` (any case)."""
        words = text.casefold().split()
        found = []
        for item in await self.range(principal, calendar_ids, time_min, time_max):
            haystack = f"{item.title} {item.location or ''}".casefold()
            if all(word in haystack for word in words):
                found.append(item)
        return found

    # --- update, delete --------------------------------------------------------------------------------
    async def update(self, principal: Principal, event_id: str, data: EventUpdate) -> EventSaved:
        current = await self.owned_event(principal, event_id)
        await self.calendars.accessible(principal, current.calendar_id, write=True)
        if data.calendar_id and data.calendar_id != current.calendar_id:
            if current.recurrence_master_id or current.recurrence_pattern:
                raise AppError(errors.CONFLICT, "Move a whole series by deleting and re-creating it")
            target = await self.calendars.accessible(principal, data.calendar_id, write=True)
            if target.user_id != current.user_id:
                raise AppError(errors.CONFLICT, "An event moves only between calendars of the same owner")
        bad = set(data.clear_fields) - CLEARABLE
        if bad:
            raise AppError(errors.VALIDATION_FAILED, f"These fields cannot be cleared: {sorted(bad)}")
        zone = data.time_zone or current.time_zone
        values = field_values(data, zone, exclude={"recurrence_pattern", "clear_recurrence", "clear_fields"})
        merged = current.model_dump(by_alias=False)
        merged.update(values)
        for name in data.clear_fields:
            merged[_snake(name)] = None
        if data.recurrence_pattern is not None:
            if current.recurrence_master_id:
                raise AppError(errors.RECURRENCE_INVALID, "An exception cannot have its own recurrence")
            merged["recurrence_pattern"] = data.recurrence_pattern.model_dump()
        if data.clear_recurrence:
            merged["recurrence_pattern"] = None
        merged["is_recurring"] = merged["recurrence_pattern"] is not None
        merged.update(
            updated_at=utcnow(),
            last_modified_by=principal.user_id,
            version=current.version + 1,
            sequence=current.sequence + 1,
        )
        record = await self.validate(principal, EventRecord.model_validate(merged))
        record = await self._drop_stale_exceptions(current, record)
        conflicts = await self.queries.conflicts(record, principal.user_id)
        saved = await self.save(current, record)
        return EventSaved(event=public(saved), conflicts=conflicts)

    async def _drop_stale_exceptions(self, current: EventRecord, record: EventRecord) -> EventRecord:
        """A series whose rule or time changed keeps only exceptions and cancellations of instances it still
        has (as Google Calendar and Outlook do); the others would show up as strays."""
        if current.recurrence_pattern is None or record.recurrence_pattern is None:
            return record
        same = (current.recurrence_pattern, current.start_time, current.time_zone) == (
            record.recurrence_pattern, record.start_time, record.time_zone,
        )  # fmt: skip
        if same:
            return record
        for exception in await self.events.exceptions_of(current.id):
            original = exception.original_start_time
            if original is None or not recurrence.is_occurrence(record, original):
                await self.events.delete({"id": exception.id})
                await self.reminders.cancel(exception.id)
        kept = [d for d in record.exdates if recurrence.is_occurrence(record, d)]
        return record.model_copy(update={"exdates": kept})

    async def save(self, current: EventRecord, record: EventRecord) -> EventRecord:
        """Replace `current` with `record` if nobody changed it meanwhile (optimistic lock on version)."""
        if not await self.events.replace_if_version(current, record):
            raise AppError(errors.CONFLICT, "The event changed meanwhile; reload it and retry")
        await self.adjust_usage(current, record)
        if record.recurrence_pattern is None and current.recurrence_pattern is not None:
            await self.events.delete({"recurrenceMasterId": current.id})
        await self.reminders.schedule(record)
        await self.announce("updated", record, previous_calendar_id=current.calendar_id)
        return record

    async def delete(self, principal: Principal, event_id: str) -> EventRecord:
        """Remove the event (a series with its exceptions); answers it as it was (for the CANCEL mails)."""
        event = await self.owned_event(principal, event_id)
        await self.calendars.accessible(principal, event.calendar_id, write=True)
        await self.remove(event)
        return event

    async def remove(self, event: EventRecord) -> None:
        if event.recurrence_pattern is not None:
            for exception in await self.events.exceptions_of(event.id):
                await self.reminders.cancel(exception.id)
            await self.events.delete({"recurrenceMasterId": event.id})
        await self.events.delete({"id": event.id})
        await self.adjust_usage(event, None)
        await self.reminders.cancel(event.id)
        await self.announce("deleted", event)

    async def respond(self, principal: Principal, event_id: str, data: AttendeeResponse) -> Attendee:
        """Record an attendee's answer. The owner may set anyone's; another user only their own address's,
        and sees only their own attendee entry back (never the event's internal fields)."""
        event = await self.events.get(event_id)
        email = str(data.email).lower()
        owner = event is not None and event.user_id == principal.user_id
        # An account's e-mail proves nothing (anyone may register with an invitee's address): another user
        # answers only for an invitation they linked to their account through its RSVP link (rsvp.py).
        linked = event is not None and any(g.email == email and g.user_id == principal.user_id for g in event.rsvp)
        if event is None or (not owner and not linked):
            raise AppError(errors.NOT_FOUND, "No such event")
        attendees = [a.model_copy() for a in event.attendees]
        match = [a for a in attendees if a.email.lower() == email]
        if not match:
            # To anyone but the owner, an event they are not invited to does not exist.
            raise AppError(errors.NOT_FOUND, "No such attendee" if owner else "No such event")
        for attendee in match:
            attendee.response_status = data.response_status
        record = event.model_copy(
            update={
                "attendees": attendees,
                "updated_at": utcnow(),
                "version": event.version + 1,
                "last_modified_by": principal.user_id,
            }
        )
        await self.save(event, record)
        return match[0]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
