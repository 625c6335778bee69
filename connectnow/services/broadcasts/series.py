"""Recurring broadcasts (issue 19): an RRULE in an IANA zone; each occurrence becomes one scheduled message.

A series is an item of its own lease queue (`broadcast_series`, status active -> advancing -> active | ended).
When an occurrence comes within `CONNECTNOW_BROADCAST_SERIES_LEAD_SECONDS`, a scheduler claims the series,
turns the occurrence into an ordinary scheduled message (recipients resolved then, opt-outs and all), and
moves the series on to its next occurrence. The scheduled message is then sent by the on-time delivery
scheduler like any other, at its exact time.

Exactly once per occurrence: the message's `requestKey` is `series:{id}:{local time}` under a unique index, so
two schedulers (two workers, or one whose lease expired) that both turn the same occurrence into a message
store one; the second finds it and only adds deliveries if a crash left it without any. An occurrence missed by
more than MISSED_GRACE (every server down) is skipped and counted, never sent late in a burst.

Pause cancels the pending occurrences and stops the series; resume goes on with the first occurrence after
now; end stops it for good.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from dateutil.rrule import rrule

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.realtime.hub import user_room
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.broadcast_series import LIVE, OccurrenceRepository, SeriesRepository
from connectnow.services.auth import Principal
from connectnow.services.broadcasts import recurrence
from connectnow.services.broadcasts.scheduling import ScheduleService, check_text_for, target_ref, to_public
from connectnow.services.broadcasts.sources import EVENT_SCHEDULED
from connectnow.services.broadcasts.timing import check_window, load_zone
from connectnow.services.leases import LeaseSpec, LeaseWorker
from connectnow.store.port import Document, DocumentStore, DuplicateKeyError
from models.broadcast_series import SeriesCreate, SeriesPublic, SeriesRecord, SeriesStatus
from models.broadcasts import ScheduledPublic, ScheduledRecord, ScheduleStatus, SourceKind

log = logging.getLogger("connectnow.broadcasts.series")

SERIES_SPEC = LeaseSpec(
    status_field="status",
    ready_statuses=(SeriesStatus.ACTIVE.value,),
    running_status=SeriesStatus.ADVANCING.value,
    due_field="nextRunAt",
)
MISSED_GRACE = timedelta(minutes=10)
MAX_SERIES_PER_USER = 100
MAX_LISTED = 200
EVENT_SERIES = "broadcast:series"


def _last(record: SeriesRecord) -> datetime | None:
    return datetime.fromisoformat(record.last_local) if record.last_local else None


def series_public(record: SeriesRecord) -> SeriesPublic:
    return SeriesPublic.model_validate({**record.model_dump(), "start_at": record.start_local})


class SeriesService:
    def __init__(self, store: DocumentStore, settings: Settings, schedule: ScheduleService) -> None:
        self.series = SeriesRepository(store)
        self.occurrences = OccurrenceRepository(store)
        self.users = UserRepository(store)
        self.schedule = schedule
        self.settings = settings
        self.bounds = recurrence.RuleBounds(
            settings.broadcast_series_min_interval_seconds, settings.broadcast_series_max_per_year
        )
        self.lead = timedelta(seconds=settings.broadcast_series_lead_seconds)
        self.queue = self.series.lease_queue(SERIES_SPEC, lease_seconds=settings.broadcast_lease_seconds)
        self.worker = LeaseWorker(
            "broadcast-series", self.queue, self.handle, poll_seconds=settings.broadcast_poll_seconds
        )

    # --- the owner's side ------------------------------------------------------------------------------
    async def create(self, principal: Principal, data: SeriesCreate) -> SeriesPublic:
        request_key = f"{principal.user_id}:{data.client_request_id}" if data.client_request_id else None
        if request_key and (replayed := await self.series.find_one({"requestKey": request_key})):
            return series_public(replayed)
        if data.start_at.tzinfo is not None:
            raise AppError(errors.VALIDATION_FAILED, "startAt is a local time in timeZone: no offset")
        load_zone(data.time_zone)
        # A yearly rule that never matches walks a few thousand years in dateutil: off the loop.
        rule, last = await asyncio.to_thread(recurrence.checked, data.rrule, data.start_at, self.bounds)
        target = target_ref(data.target)
        text = await self.schedule.text_for(principal, data.message, data.template_id)
        check_text_for(target, text)
        await self.schedule.resolver.recipients(principal, target)  # the target is the caller's to send to
        if await self.series.live_count(principal.user_id) >= MAX_SERIES_PER_USER:
            raise AppError(errors.SCHEDULE_QUOTA_EXCEEDED, details={"maxSeries": MAX_SERIES_PER_USER})
        first = recurrence.next_local(rule, None, data.start_at, last)
        assert first is not None  # check() found one
        first_at = recurrence.instant(first, data.time_zone)
        now = utcnow()
        check_window(first_at, now, timedelta(days=self.settings.broadcast_horizon_days))
        record = SeriesRecord(
            id=new_id(), user_id=principal.user_id, target=target, target_key=f"{target.kind.value}:{target.id}",
            request_key=request_key, message=text, template_id=data.template_id, category=data.category,
            rrule=data.rrule.removeprefix("RRULE:"), start_local=data.start_at.isoformat(),
            time_zone=data.time_zone, last_local=last.isoformat() if last else None, status=SeriesStatus.ACTIVE,
            next_occurrence_at=first_at, next_run_at=first_at - self.lead, created_at=now, updated_at=now,
        )  # fmt: skip
        try:
            await self.series.insert(record)
        except DuplicateKeyError:
            replayed = await self.series.find_one({"requestKey": request_key})
            if replayed is None:
                raise
            return series_public(replayed)
        self.worker.wake()
        return await self._announce(record)

    async def owned(self, principal: Principal, series_id: str) -> SeriesRecord:
        record = await self.series.owned(principal.user_id, series_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such recurring broadcast")
        return record

    async def get(self, principal: Principal, series_id: str) -> SeriesPublic:
        return await self._public(await self.owned(principal, series_id))

    async def list_all(self, principal: Principal) -> list[SeriesPublic]:
        return [await self._public(r) for r in await self.series.of_user(principal.user_id, MAX_LISTED)]

    async def _public(self, record: SeriesRecord) -> SeriesPublic:
        """`nextOccurrenceAt` is the next send: an occurrence already made and pending comes before the rule's
        next one (occurrences are made up to the lead time ahead)."""
        public = series_public(record)
        pending = await self.occurrences.earliest_pending(record.id, utcnow())
        if pending is not None:
            public.next_occurrence_at = pending.scheduled_for
        return public

    async def occurrences_of(self, principal: Principal, series_id: str) -> list[ScheduledPublic]:
        record = await self.owned(principal, series_id)
        return [to_public(r) for r in await self.occurrences.of_series(record.id, MAX_LISTED)]

    async def pause(self, principal: Principal, series_id: str) -> SeriesPublic:
        record = await self.owned(principal, series_id)
        if record.status is SeriesStatus.PAUSED:
            return series_public(record)
        return await self._stop(record, SeriesStatus.PAUSED, None)

    async def end(self, principal: Principal, series_id: str) -> SeriesPublic:
        record = await self.owned(principal, series_id)
        if record.status is SeriesStatus.ENDED:
            return series_public(record)
        return await self._stop(record, SeriesStatus.ENDED, "ended by its owner")

    async def _stop(self, record: SeriesRecord, status: SeriesStatus, reason: str | None) -> SeriesPublic:
        changes = {"status": status.value, "updatedAt": utcnow(), **({"endedReason": reason} if reason else {})}
        stopped = await self.series.set_status(record.id, [*LIVE, SeriesStatus.PAUSED.value], changes)
        if stopped is None:
            raise AppError(errors.SERIES_ENDED)
        await self._cancel_pending(stopped)
        return await self._announce(stopped)

    async def resume(self, principal: Principal, series_id: str) -> SeriesPublic:
        record = await self.owned(principal, series_id)
        if record.status is not SeriesStatus.PAUSED:
            if record.status is SeriesStatus.ENDED:
                raise AppError(errors.SERIES_ENDED)
            return series_public(record)
        # Go on with the first occurrence from now: what fell in the pause is not sent.
        rule, start = self._rule(record)
        now_local = recurrence.local_now(record.time_zone, utcnow())
        after = max(now_local, datetime.fromisoformat(record.cursor_local)) if record.cursor_local else now_local
        found = await asyncio.to_thread(recurrence.next_local, rule, after, start, _last(record))
        if found is None:
            return await self._stop(record, SeriesStatus.ENDED, "no occurrence left")
        at = recurrence.instant(found, record.time_zone)
        changes = {"status": SeriesStatus.ACTIVE.value, "cursorLocal": (found - timedelta(microseconds=1)).isoformat(),
                   "nextOccurrenceAt": at, "nextRunAt": at - self.lead, "updatedAt": utcnow()}  # fmt: skip
        resumed = await self.series.set_status(record.id, [SeriesStatus.PAUSED.value], changes)
        if resumed is None:
            return series_public(await self.owned(principal, series_id))
        self.worker.wake()
        return await self._announce(resumed)

    async def _cancel_pending(self, record: SeriesRecord) -> None:
        for occurrence in await self.occurrences.pending_of_series(record.id):
            changed = await self.occurrences.cancel_if_pending(occurrence.id, utcnow())
            if changed is not None:
                await self.schedule.deliveries.cancel_pending(occurrence.id)

    async def _announce(self, record: SeriesRecord) -> SeriesPublic:
        public = await self._public(record)
        await self.schedule.hub.emit(EVENT_SERIES, public, room=user_room(record.user_id))
        return public

    def _rule(self, record: SeriesRecord) -> tuple[rrule, datetime]:
        start = datetime.fromisoformat(record.start_local)
        return recurrence.parse(record.rrule, start), start

    # --- the scheduler's side --------------------------------------------------------------------------
    async def handle(self, item: Document, worker_id: str) -> None:
        """Turn the series' next occurrence into a scheduled message, then move on to the one after."""
        record = SeriesRecord.model_validate(item)
        rule, start = self._rule(record)
        cursor = datetime.fromisoformat(record.cursor_local) if record.cursor_local else None
        occurrence = await asyncio.to_thread(recurrence.next_local, rule, cursor, start, _last(record))
        if occurrence is None:
            await self.queue.finish(record.id, worker_id, SeriesStatus.ENDED.value,
                                    {"endedReason": "no occurrence left", "updatedAt": utcnow()})  # fmt: skip
            return
        at = recurrence.instant(occurrence, record.time_zone)
        made, error = False, None
        if at < utcnow() - MISSED_GRACE:
            error = f"missed {occurrence.isoformat()}: no scheduler ran in time"
        else:
            try:
                made = await self._materialize(record, occurrence, at, worker_id)
            except AppError as exc:  # the target went away, everyone opted out, quota: skip this one
                error = f"{occurrence.isoformat()}: {exc.code} {exc.message}"
        if error:
            log.warning("recurring broadcast %s skipped an occurrence: %s", record.id, error)
        await self._advance(record, rule, start, occurrence, made, error, worker_id)

    async def _advance(
        self, record: SeriesRecord, rule: rrule, start: datetime, occurrence: datetime, made: bool,
        error: str | None, worker_id: str,
    ) -> None:  # fmt: skip
        counts = {"occurrences": record.occurrences + made, "skipped": record.skipped + (not made)}
        fields = {"cursorLocal": occurrence.isoformat(), "updatedAt": utcnow(), **counts,
                  **({"lastError": error} if error else {})}  # fmt: skip
        following = await asyncio.to_thread(recurrence.next_local, rule, occurrence, start, _last(record))
        if following is None:
            ended = {**fields, "endedReason": "no occurrence left", "nextOccurrenceAt": None}
            await self.queue.finish(record.id, worker_id, SeriesStatus.ENDED.value, ended)
        else:
            at = recurrence.instant(following, record.time_zone)
            await self.queue.retry_at(record.id, worker_id, at - self.lead, {**fields, "nextOccurrenceAt": at})
        latest = await self.series.get(record.id)
        if latest is not None:
            await self._announce(latest)

    async def _materialize(self, record: SeriesRecord, occurrence: datetime, at: datetime, worker_id: str) -> bool:
        """The occurrence as a scheduled message with its deliveries, once, however many schedulers try."""
        user = await self.users.get(record.user_id)
        if user is None or not user.is_active or user.is_banned:
            raise AppError(errors.NOT_FOUND, "The owner's account is gone or suspended")
        principal = Principal(user=user)
        recipients = await self.schedule.resolver.recipients(principal, record.target)
        now = utcnow()
        message = ScheduledRecord(
            id=new_id(), user_id=record.user_id, target=record.target, target_key=record.target_key,
            request_key=f"series:{record.id}:{occurrence.isoformat()}", message=record.message,
            template_id=record.template_id, category=record.category, scheduled_for=at,
            time_zone=record.time_zone, status=ScheduleStatus.PENDING, recipients=len(recipients),
            series_id=record.id, created_at=now, updated_at=now,
        )  # fmt: skip
        try:
            await self.schedule.scheduled.insert(message)
        except DuplicateKeyError:
            existing = await self.schedule.scheduled.find_one({"requestKey": message.request_key})
            if existing is None or await self.schedule.deliveries.of_source(existing.id):
                return True  # another scheduler made it, deliveries and all
            message = existing  # a crash left it without deliveries: add them
        await self.schedule.enqueue(record.user_id, SourceKind.SCHEDULED, message.id, recipients, at)
        if not await self.series.still_running(record.id, worker_id):
            # Paused or ended while we worked: the pause's cancel may have run before our insert.
            await self._cancel_pending(record)
            return True
        await self.schedule.hub.emit(EVENT_SCHEDULED, to_public(message), room=user_room(record.user_id))
        return True

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
