"""Reading events over time: range expansion (series into instances) and conflict detection."""

from __future__ import annotations

import asyncio
import heapq
from bisect import bisect_left
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import accumulate, islice

from connectnow import errors
from connectnow.errors import AppError
from connectnow.repositories.calendar import EventRepository
from connectnow.services.calendar import recurrence
from connectnow.services.calendar.rules import MAX_PREP_WINDOW, busy_window, instance_busy
from models.calendar_events import Conflict, EventInstance, EventRecord

MAX_RANGE = timedelta(days=400)  # a range query spans at most this much
MAX_RANGE_ITEMS = 5000  # instances returned by one range query
CONFLICT_HORIZON = timedelta(days=366)  # how far ahead a new series is checked for overlaps
MAX_CONFLICTS = 50
MAX_SERIES_PER_CALENDAR = 200  # recurring series (masters) in one calendar


def check_range(time_min: datetime, time_max: datetime) -> None:
    if time_max <= time_min:
        raise AppError(errors.CALENDAR_RANGE_INVALID, "timeMax must be after timeMin")
    if time_max - time_min > MAX_RANGE:
        raise AppError(errors.CALENDAR_RANGE_INVALID, f"A range spans at most {MAX_RANGE.days} days")


def _instance(event: EventRecord, start: datetime, end: datetime, original: datetime | None) -> EventInstance:
    return EventInstance(
        event_id=event.id,
        master_id=event.recurrence_master_id or (event.id if event.recurrence_pattern else None),
        calendar_id=event.calendar_id,
        title=event.title,
        start_time=start,
        end_time=end,
        time_zone=event.time_zone,
        all_day=event.all_day,
        original_start_time=original,
        location=event.location,
        location_id=event.location_id,
        is_exception=event.recurrence_master_id is not None,
    )


_Slot = tuple[datetime, str, EventRecord, datetime, datetime | None]  # start, id, event, end, original start


def _singles(events: list[EventRecord], time_min: datetime, time_max: datetime) -> Iterator[_Slot]:
    for event in events:  # already in start order (the range query sorts by startTime)
        if event.start_time < time_max and event.end_time > time_min:
            yield event.start_time, event.id, event, event.end_time, event.original_start_time


def _series(
    event: EventRecord, replaced: set[tuple[str, datetime]], time_min: datetime, time_max: datetime
) -> Iterator[_Slot]:
    for occ in recurrence.iter_occurrences(event, time_min, time_max):
        if (event.id, occ.original_start) not in replaced:
            yield occ.start, event.id, event, occ.end, occ.original_start


def _earliest(
    stored: list[EventRecord],
    replaced: set[tuple[str, datetime]],
    time_min: datetime,
    time_max: datetime,
    limit: int,
) -> list[EventInstance]:
    singles = sorted((e for e in stored if e.recurrence_pattern is None), key=lambda e: (e.start_time, e.id))
    streams = [_singles(singles, time_min, time_max)]
    streams += [_series(e, replaced, time_min, time_max) for e in stored if e.recurrence_pattern is not None]
    merged = heapq.merge(*streams, key=lambda slot: (slot[0], slot[1]))
    return [_instance(event, start, end, original) for start, _, event, end, original in islice(merged, limit)]


class Windows:
    """Sorted time windows answering "does [start, end) overlap any of them?" in O(log n): the starts are
    bisected and a running maximum of the ends says whether an earlier window reaches past `start`."""

    def __init__(self, spans: list[tuple[datetime, datetime]]) -> None:
        ordered = sorted(spans)
        self.starts = [s for s, _ in ordered]
        self.max_end = list(accumulate((e for _, e in ordered), max))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        before = bisect_left(self.starts, end)  # windows starting before `end`
        return before > 0 and self.max_end[before - 1] > start


class EventQueries:
    def __init__(self, events: EventRepository) -> None:
        self.events = events

    async def expand(
        self, calendar_ids: list[str], time_min: datetime, time_max: datetime, limit: int = MAX_RANGE_ITEMS
    ) -> list[EventInstance]:
        """Every occurrence meeting [time_min, time_max): singles, expanded series, exceptions in place.

        At most `limit`, the earliest. Series are merged lazily (heapq.merge of each series' occurrences in
        start order), so the work is about `limit` occurrences plus one per series however many series there
        are, and it runs in a worker thread: the event loop keeps serving meanwhile."""
        if not calendar_ids:
            return []
        stored = await self.events.in_range(calendar_ids, time_min, time_max, limit=limit)
        masters = [e for e in stored if e.recurrence_pattern is not None]
        replaced = await self._replaced_instances([m.id for m in masters])
        if not masters:
            return _earliest(stored, replaced, time_min, time_max, limit)
        return await asyncio.to_thread(_earliest, stored, replaced, time_min, time_max, limit)

    async def invited(
        self, user_id: str, time_min: datetime, time_max: datetime, limit: int = MAX_RANGE_ITEMS
    ) -> list[EventInstance]:
        """Other people's events whose invitation the user linked to their account, marked `invited`."""
        stored = await self.events.invited_in_range(user_id, time_min, time_max, limit=limit)
        replaced = await self._replaced_instances([e.id for e in stored if e.recurrence_pattern is not None])
        found = await asyncio.to_thread(_earliest, stored, replaced, time_min, time_max, limit)
        return [i.model_copy(update={"invited": True}) for i in found]

    async def _replaced_instances(self, master_ids: list[str]) -> set[tuple[str, datetime]]:
        if not master_ids:
            return set()
        found = await self.events.exceptions_of_many(master_ids)
        return {(e.recurrence_master_id or "", e.original_start_time) for e in found if e.original_start_time}

    async def conflicts(self, event: EventRecord, user_id: str) -> list[Conflict]:
        """Overlaps on the same calendar, and busy time at the same location (setup and teardown included)."""
        windows = self._windows(event)
        if not windows:
            return []
        low, high = windows[0][0], windows[-1][1]
        own: set[str | None] = {x for x in (event.id, event.recurrence_master_id) if x}
        found: list[Conflict] = []
        times = Windows([(start, end) for start, end, _, _ in windows])
        for inst in await self.expand([event.calendar_id], low, high):
            if inst.event_id in own or (inst.master_id and inst.master_id in own):
                continue
            if times.overlaps(inst.start_time, inst.end_time):
                found.append(
                    Conflict(
                        kind="calendar",
                        start_time=inst.start_time,
                        end_time=inst.end_time,
                        event_id=inst.event_id,
                        title=inst.title,
                    )
                )
        if event.location_id:
            found += await self._location_conflicts(event, windows, own, user_id)
        return found[:MAX_CONFLICTS]

    def _windows(self, event: EventRecord) -> list[tuple[datetime, datetime, datetime, datetime]]:
        """(start, end, busyStart, busyEnd) of the event, or of a new series' first instances."""
        if event.recurrence_pattern is None:
            busy = busy_window(event)
            return [(event.start_time, event.end_time, *busy)]
        occs = recurrence.occurrences(event, event.start_time, event.start_time + CONFLICT_HORIZON, 200)
        return [(o.start, o.end, *instance_busy(event, o.start, o.end)) for o in occs]

    async def _location_conflicts(
        self,
        event: EventRecord,
        windows: list[tuple[datetime, datetime, datetime, datetime]],
        own: set[str | None],
        user_id: str,
    ) -> list[Conflict]:
        assert event.location_id is not None
        low, high = windows[0][2], windows[-1][3]
        out: list[Conflict] = []
        busy = Windows([(b_start, b_end) for _, _, b_start, b_end in windows])
        others = [
            o
            for o in await self.events.at_location(event.location_id, low, high + MAX_PREP_WINDOW)
            if o.id not in own and o.recurrence_master_id not in own
        ]
        # Expanding up to 2,000 events' busy windows is CPU work: off the loop.
        spans = await asyncio.to_thread(lambda: [(o, self._busy_of(o, low, high)) for o in others])
        for other, busy_times in spans:
            for start, end in busy_times:
                if busy.overlaps(start, end):
                    mine = other.user_id == user_id
                    # Another user's booking shows only as busy time: its title is not the caller's to see.
                    out.append(
                        Conflict(
                            kind="location",
                            start_time=start,
                            end_time=end,
                            event_id=other.id if mine else None,
                            title=other.title if mine else None,
                        )
                    )
        return out

    def _busy_of(self, other: EventRecord, low: datetime, high: datetime) -> list[tuple[datetime, datetime]]:
        if other.recurrence_pattern is None:
            return [busy_window(other)]
        occs = recurrence.occurrences(other, low - MAX_PREP_WINDOW, high + MAX_PREP_WINDOW, 500)
        return [instance_busy(other, o.start, o.end) for o in occs]
