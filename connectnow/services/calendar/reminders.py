"""Event reminders: a message posted into a ConnectNow channel `minutesBefore` an event (or instance) starts.

One reminder document per event on the shared lease queue (connectnow/services/leases.py): due at the next
instance's start minus the lead time. After posting, a series' reminder is rescheduled for its next instance.
The message is posted as the event's owner through the chat core's MessageService, so channel membership
and posting rights are checked exactly as for a message the user types; the idempotency key (event and
instance) makes a retry after a lost answer post nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import TypeAdapter

from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.calendar import EventRepository, ReminderRepository
from connectnow.services.auth import Principal
from connectnow.services.calendar import recurrence
from connectnow.services.leases import LeaseSpec, backoff_delay
from connectnow.store.port import Document, DocumentStore
from models.base import UtcDateTime
from models.calendar_events import EventRecord

log = logging.getLogger("connectnow.calendar.reminders")
REMINDER_LEASE_SECONDS = 60.0
LOOKAHEAD = timedelta(days=400)  # how far ahead the next instance of a series is searched
MAX_ATTEMPTS = 8
_WHEN: TypeAdapter[datetime] = TypeAdapter(UtcDateTime)


class ReminderPoster(Protocol):
    async def check(self, user_id: str, channel_id: str) -> None:
        """Raise AppError when the user may not post into the channel (checked when a reminder is set)."""
        ...

    async def post(self, user_id: str, channel_id: str, text: str, key: str) -> None: ...


class ChatReminderPoster:
    """Posts through the chat core's MessageService as the event's owner."""

    def __init__(self, store: DocumentStore, messages: Any) -> None:
        self.users = UserRepository(store)
        self.messages = messages

    async def check(self, user_id: str, channel_id: str) -> None:
        from connectnow.services.policy import Action

        access = await self.messages.access.channel(channel_id, user_id)
        self.messages.writable(access, Action.MESSAGE_SEND)

    async def post(self, user_id: str, channel_id: str, text: str, key: str) -> None:
        from models.messages import MessageSend

        user = await self.users.get(user_id)
        if user is None:
            raise LookupError("the event's owner no longer exists")
        data = MessageSend.model_validate({"channelId": channel_id, "content": text, "clientMsgId": key})
        await self.messages.send(Principal(user=user), data)


def next_instance(event: EventRecord, after: datetime, replaced: frozenset[datetime] = frozenset()) -> datetime | None:
    """The first start (UTC) of the event at or after `after`. Instances replaced by an exception are left
    out: the exception (a stored event of its own) carries its own reminder."""
    if event.recurrence_pattern is None:
        return event.start_time if event.start_time >= after else None
    found = recurrence.occurrences(event, after, after + LOOKAHEAD, 50 + len(replaced))
    starts = [o.start for o in found if o.start >= after and o.original_start not in replaced]
    return starts[0] if starts else None


def reminder_text(event: EventRecord, start: datetime) -> str:
    local = start.astimezone(recurrence.ZoneInfo(event.time_zone))
    where = f" at {event.location}" if event.location else ""
    return f"Reminder: **{event.title}** starts {local:%Y-%m-%d %H:%M} ({event.time_zone}){where}"


class ReminderService:
    def __init__(self, store: DocumentStore, poster: ReminderPoster) -> None:
        self.reminders = ReminderRepository(store)
        self.events = EventRepository(store)
        self.poster = poster
        self.queue = self.reminders.lease_queue(LeaseSpec(), lease_seconds=REMINDER_LEASE_SECONDS)

    async def check(self, event: EventRecord) -> None:
        """A reminder may only go to a channel its owner can post in (refused with the chat core's code)."""
        if event.reminder is not None:
            await self.poster.check(event.user_id, event.reminder.channel_id)

    async def schedule(self, event: EventRecord, *, now: datetime | None = None) -> None:
        """(Re)compute an event's reminder after any change; none when it has no reminder or no future start."""
        if event.reminder is None:
            await self.cancel(event.id)
            return
        now = now or utcnow()
        lead = timedelta(minutes=event.reminder.minutes_before)
        # The next instance that has not started: a reminder whose moment has passed is posted at once.
        start = next_instance(event, now, await self._replaced(event))
        if start is None:
            await self.cancel(event.id)
            return
        await self.reminders.plan(
            event.id,
            {"scheduledFor": start - lead, "occurrenceStart": start, "channelId": event.reminder.channel_id,
             "userId": event.user_id},
        )  # fmt: skip

    async def _replaced(self, event: EventRecord) -> frozenset[datetime]:
        if event.recurrence_pattern is None:
            return frozenset()
        found = await self.events.exceptions_of(event.id)
        return frozenset(e.original_start_time for e in found if e.original_start_time)

    async def cancel(self, event_id: str) -> None:
        await self.reminders.cancel(event_id)

    async def handle(self, item: Document, worker_id: str) -> None:
        """LeaseWorker handler: post the reminder, then move a series' reminder to its next instance."""
        event = await self.events.get(str(item["eventId"]))
        if event is None:
            await self.queue.finish(item["id"], worker_id, "cancelled")
            return
        start = _WHEN.validate_python(item["occurrenceStart"])
        key = f"calrem:{event.id}:{int(start.timestamp())}"
        try:
            await self.poster.post(event.user_id, item["channelId"], reminder_text(event, start), key)
        except AppError as exc:
            # A refusal (not a member, channel archived) will not heal by retrying: record it on the item.
            await self.queue.finish(item["id"], worker_id, "error", {"lastError": f"{exc.code}: {exc.message}"})
            return
        except Exception as exc:
            attempts = int(item.get("attempts", 1))
            if attempts >= MAX_ATTEMPTS:
                await self.queue.finish(item["id"], worker_id, "error", {"lastError": str(exc)[:300]})
                return
            delay = backoff_delay(attempts, base_seconds=5, cap_seconds=300)
            await self.queue.retry_at(item["id"], worker_id, utcnow() + timedelta(seconds=delay),
                                      {"lastError": str(exc)[:300]})  # fmt: skip
            return
        lead = timedelta(minutes=event.reminder.minutes_before if event.reminder else 0)
        following = None
        if event.recurrence_pattern is not None:
            following = next_instance(event, start + timedelta(seconds=1), await self._replaced(event))
        if following is None:
            await self.queue.finish(item["id"], worker_id, "sent", {"sentAt": utcnow()})
            return
        await self.queue.retry_at(item["id"], worker_id, following - lead,
                                  {"occurrenceStart": following, "attempts": 0, "sentAt": utcnow()})  # fmt: skip
