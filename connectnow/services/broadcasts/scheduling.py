"""Scheduled messages (seed scheduledMessages): create, list, edit and cancel while pending.

A message goes to a contact (one webhook delivery), to every contact of a group (one tracked delivery per
member, fixed when it is scheduled), or to a channel or direct conversation the user may post to (one in-app
delivery). Its text is plain or comes from a template; placeholders are filled per contact at delivery.
Statuses: pending -> sending (the first delivery started) -> sent | failed; pending -> cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.hub import user_room
from connectnow.repositories.broadcasts import DeliveryRepository, ScheduledRepository
from connectnow.services.auth import Principal
from connectnow.services.broadcasts.groups import GroupService
from connectnow.services.broadcasts.sources import EVENT_SCHEDULED
from connectnow.services.broadcasts.templates import TemplateService, placeholders_in
from connectnow.services.broadcasts.timing import check_window, resolve_instant
from connectnow.services.broadcasts.transports import ChatPoster
from connectnow.services.broadcasts.webhooks import WebhookService
from connectnow.services.contacts import ContactService
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.broadcasts import (
    DeliveryPublic,
    DeliveryRecord,
    DeliveryStatus,
    GroupsTarget,
    ScheduledCreate,
    ScheduledPage,
    ScheduledPublic,
    ScheduledRecord,
    ScheduledUpdate,
    ScheduleStatus,
    SourceKind,
    Target,
    TargetKind,
    TargetRef,
)

MAX_PAGE_SIZE = 200
IN_APP_KINDS = (TargetKind.CHANNEL, TargetKind.DIRECT)


def target_ref(target: Target) -> TargetRef:
    if isinstance(target, GroupsTarget):
        return TargetRef(kind=TargetKind.GROUPS, id=",".join(sorted(set(target.group_ids))))
    ids = {"contact": "contact_id", "group": "group_id", "channel": "channel_id", "direct": "conversation_id"}
    return TargetRef(kind=TargetKind(target.kind), id=getattr(target, ids[target.kind]))


def to_public(record: ScheduledRecord) -> ScheduledPublic:
    return ScheduledPublic.model_validate(record, from_attributes=True)


class TargetResolver:
    """Checks a target is the user's to send to, and names its recipients."""

    def __init__(
        self, contacts: ContactService, groups: GroupService, webhooks: WebhookService, poster: ChatPoster | None
    ) -> None:
        self.contacts = contacts
        self.groups = groups
        self.webhooks = webhooks
        self.poster = poster

    async def recipients(self, principal: Principal, target: TargetRef) -> list[TargetRef]:
        if target.kind in IN_APP_KINDS:
            if self.poster is None:
                raise AppError(errors.IN_APP_UNAVAILABLE)
            await self.poster.check_can_post(principal.user_id, target.kind, target.id)
            return [target]
        if target.kind is TargetKind.CONTACT:
            contact = await self.contacts.get_owned(principal, target.id)
            if contact.opted_out:
                raise AppError(errors.CONTACT_OPTED_OUT, details={"contactId": contact.id})
            contact_ids = [contact.id]
        else:
            contact_ids = await self._members(principal, target)
        if await self.webhooks.target_for(principal.user_id) is None:
            raise AppError(errors.WEBHOOK_NOT_CONFIGURED)
        return [TargetRef(kind=TargetKind.CONTACT, id=cid) for cid in contact_ids]

    async def _members(self, principal: Principal, target: TargetRef) -> list[str]:
        """The distinct contacts of one or several groups, in group order, without those who opted out."""
        group_ids = target.id.split(",") if target.kind is TargetKind.GROUPS else [target.id]
        members: dict[str, None] = {}  # insertion-ordered set: a contact in two groups is sent to once
        for group_id in group_ids:
            members.update(dict.fromkeys(await self.groups.member_records(principal, group_id)))
        if not members:
            raise AppError(errors.GROUP_EMPTY)
        records = await self.contacts.contacts.owned_many(principal.user_id, list(members))
        opted_out = {c.id for c in records if c.opted_out}
        reachable = [cid for cid in members if cid not in opted_out]
        if not reachable:
            raise AppError(
                errors.CONTACT_OPTED_OUT, "Every contact of the target opted out", details={"optedOut": len(opted_out)}
            )
        return reachable


def check_text_for(target: TargetRef, text: str) -> None:
    if placeholders_in(text) and target.kind in IN_APP_KINDS:
        raise AppError(errors.PLACEHOLDER_NEEDS_CONTACT)


class ScheduleService:
    def __init__(
        self,
        store: DocumentStore,
        settings: Settings,
        hub: Emitter,
        resolver: TargetResolver,
        templates: TemplateService,
        wake: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.scheduled = ScheduledRepository(store)
        self.deliveries = DeliveryRepository(store)
        self.settings = settings
        self.hub = hub
        self.resolver = resolver
        self.templates = templates
        self.wake = wake

    def when(self, scheduled_for: datetime, time_zone: str | None) -> datetime:
        instant = resolve_instant(scheduled_for, time_zone)
        check_window(instant, utcnow(), timedelta(days=self.settings.broadcast_horizon_days))
        return instant

    async def text_for(self, principal: Principal, message: str | None, template_id: str | None) -> str:
        if (message is None) == (template_id is None):
            raise AppError(errors.BROADCAST_CONTENT_INVALID)
        if template_id is not None:
            return (await self.templates.get_owned(principal, template_id)).content
        assert message is not None
        return message

    async def check_quota(self, principal: Principal, target: TargetRef) -> None:
        key = f"{target.kind.value}:{target.id}"
        if await self.scheduled.active_for_target(principal.user_id, key) >= self.settings.broadcast_target_quota:
            raise AppError(
                errors.SCHEDULE_QUOTA_EXCEEDED,
                f"At most {self.settings.broadcast_target_quota} pending messages per target",
                details={"quota": self.settings.broadcast_target_quota},
            )

    async def create(self, principal: Principal, data: ScheduledCreate) -> ScheduledPublic:
        request_key = f"{principal.user_id}:{data.client_request_id}" if data.client_request_id else None
        if request_key is not None:
            replayed = await self.scheduled.find_one({"requestKey": request_key})
            if replayed is not None:
                return to_public(replayed)
        target = target_ref(data.target)
        if data.recipient_local_time:
            self._check_local_time(data, target)
        else:
            when = self.when(data.scheduled_for, data.time_zone)
        text = await self.text_for(principal, data.message, data.template_id)
        check_text_for(target, text)
        recipients = await self.resolver.recipients(principal, target)
        times = None
        if data.recipient_local_time:
            times = await self._local_times(principal, data, recipients)
            when = min(times)
        await self.check_quota(principal, target)
        now = utcnow()
        record = ScheduledRecord(
            id=new_id(),
            user_id=principal.user_id,
            target=target,
            target_key=f"{target.kind.value}:{target.id}",
            request_key=request_key,
            message=text,
            template_id=data.template_id,
            category=data.category,
            scheduled_for=when,
            time_zone=data.time_zone,
            status=ScheduleStatus.PENDING,
            recipients=len(recipients),
            recipient_local_time=data.recipient_local_time,
            created_at=now,
            updated_at=now,
        )
        try:
            await self.scheduled.insert(record)
        except DuplicateKeyError:
            # The same request raced itself: answer with the one that won.
            replayed = await self.scheduled.find_one({"requestKey": request_key})
            if replayed is None:
                raise
            return to_public(replayed)
        try:
            await self.enqueue(principal.user_id, SourceKind.SCHEDULED, record.id, recipients, when, times=times)
        except Exception:
            await self.scheduled.delete({"id": record.id})
            raise
        await self.hub.emit(EVENT_SCHEDULED, to_public(record), room=user_room(principal.user_id))
        return to_public(record)

    def _check_local_time(self, data: ScheduledCreate, target: TargetRef) -> None:
        if target.kind in IN_APP_KINDS:
            raise AppError(errors.VALIDATION_FAILED, "recipientLocalTime is for contacts and groups")
        if data.scheduled_for.tzinfo is not None:
            raise AppError(errors.VALIDATION_FAILED, "With recipientLocalTime, scheduledFor is a local time: no offset")

    async def _local_times(
        self, principal: Principal, data: ScheduledCreate, recipients: list[TargetRef]
    ) -> list[datetime]:
        """The instant `scheduledFor` is in each contact's zone (else the message's `timeZone`)."""
        contacts = {
            c.id: c
            for c in await self.resolver.contacts.contacts.owned_many(principal.user_id, [r.id for r in recipients])
        }
        times = []
        for recipient in recipients:
            zone = contacts[recipient.id].time_zone if recipient.id in contacts else None
            if zone is None and data.time_zone is None:
                raise AppError(errors.SCHEDULE_TIME_ZONE_REQUIRED, details={"contactId": recipient.id})
            times.append(self.when(data.scheduled_for, zone or data.time_zone))
        return times

    async def enqueue(
        self,
        user_id: str,
        kind: SourceKind,
        source_id: str,
        recipients: list[TargetRef],
        when: datetime,
        *,
        times: list[datetime] | None = None,
    ) -> None:
        """One delivery per recipient, due at `when` (or at `times[i]`, recipient by recipient)."""
        now = utcnow()
        records = [
            DeliveryRecord(
                id=new_id(),
                user_id=user_id,
                source_kind=kind,
                source_id=source_id,
                target=recipient,
                status=DeliveryStatus.PENDING,
                scheduled_for=due,
                due_at=due,
                created_at=now,
            )
            for recipient, due in zip(recipients, times or [when] * len(recipients), strict=True)
        ]
        await self.deliveries.insert_many(records)
        await self._wake()

    async def _wake(self) -> None:
        # Every scheduler sleeps until its next known due time: a new or moved one must cut that sleep short.
        if self.wake is not None:
            await self.wake()

    async def get_owned(self, principal: Principal, scheduled_id: str) -> ScheduledRecord:
        record = await self.scheduled.owned(principal.user_id, scheduled_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such scheduled message")
        return record

    async def get(self, principal: Principal, scheduled_id: str) -> ScheduledPublic:
        return to_public(await self.get_owned(principal, scheduled_id))

    async def list_scheduled(
        self,
        principal: Principal,
        *,
        status: ScheduleStatus | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        target_kind: TargetKind | None = None,
        target_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> ScheduledPage:
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        records, total = await self.scheduled.page(
            principal.user_id,
            status=status.value if status is not None else None,
            start=resolve_instant(start, "UTC") if start is not None else None,
            end=resolve_instant(end, "UTC") if end is not None else None,
            target_key=f"{target_kind.value}:{target_id}"
            if target_kind is not None and target_id is not None
            else None,
            target_kind=target_kind.value if target_kind is not None else None,
            limit=limit,
            offset=offset,
        )
        next_offset = offset + len(records) if offset + len(records) < total else None
        return ScheduledPage(items=[to_public(r) for r in records], total=total, next_offset=next_offset)

    async def update(self, principal: Principal, scheduled_id: str, data: ScheduledUpdate) -> ScheduledPublic:
        current = await self.get_owned(principal, scheduled_id)
        if current.status is not ScheduleStatus.PENDING:
            raise AppError(errors.SCHEDULE_NOT_PENDING, details={"status": current.status.value})
        if data.time_zone is not None and data.scheduled_for is None:
            raise AppError(errors.VALIDATION_FAILED, "A new timeZone needs the scheduledFor it applies to")
        if data.scheduled_for is not None and current.recipient_local_time:
            raise AppError(
                errors.VALIDATION_FAILED,
                "A message sent at each recipient's local time is moved by cancelling it and scheduling it again",
            )
        changes: dict[str, Any] = {"updatedAt": utcnow()}
        if data.scheduled_for is not None:
            changes["scheduledFor"] = self.when(data.scheduled_for, data.time_zone)
            changes["timeZone"] = data.time_zone
        if data.message is not None or data.template_id is not None:
            text = await self.text_for(principal, data.message, data.template_id)
            check_text_for(current.target, text)
            changes["message"], changes["templateId"] = text, data.template_id
        if "category" in data.model_fields_set:
            changes["category"] = data.category
        updated = await self.scheduled.change_pending(current.id, principal.user_id, changes)
        if updated is None:
            latest = await self.get_owned(principal, scheduled_id)
            raise AppError(errors.SCHEDULE_NOT_PENDING, details={"status": latest.status.value})
        if "scheduledFor" in changes:
            await self.deliveries.reschedule_pending(current.id, changes["scheduledFor"])
            await self._wake()
        await self.hub.emit(EVENT_SCHEDULED, to_public(updated), room=user_room(principal.user_id))
        return to_public(updated)

    async def cancel(self, principal: Principal, scheduled_id: str) -> ScheduledPublic:
        """Cancel while pending. Cancelling twice is harmless; a message being sent or sent is refused."""
        current = await self.get_owned(principal, scheduled_id)
        if current.status is ScheduleStatus.CANCELLED:
            return to_public(current)
        cancelled = await self.scheduled.change_pending(
            current.id, principal.user_id, {"status": ScheduleStatus.CANCELLED.value, "updatedAt": utcnow()}
        )
        if cancelled is None:
            latest = await self.get_owned(principal, scheduled_id)
            if latest.status is ScheduleStatus.CANCELLED:
                return to_public(latest)
            raise AppError(errors.SCHEDULE_ALREADY_SENT, details={"status": latest.status.value})
        await self.deliveries.cancel_pending(current.id)
        await self.hub.emit(EVENT_SCHEDULED, to_public(cancelled), room=user_room(principal.user_id))
        return to_public(cancelled)

    async def deliveries_of(self, principal: Principal, scheduled_id: str) -> list[DeliveryPublic]:
        record = await self.get_owned(principal, scheduled_id)
        return [DeliveryPublic.model_validate(d) for d in await self.deliveries.of_source(record.id)]
