"""Moderation records: a deleted channel message's content, mentions, files and author, kept for review.

Readers of the channel see only the tombstone. The record is readable by the workspace's ADMIN+ (policy
`moderation.read`) and by the message's author, until `purge_at` (deletion + CONNECTNOW_MODERATION_RETENTION_
SECONDS); then the `moderation-purge` LeaseWorker erases its content and the message's files. The purge is a
leased item like every other background job (connectnow/services/leases.py), so several workers never purge
the same record twice and a crashed worker's item is taken over when its lease expires.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.realtime.rooms import user_room
from connectnow.repositories.moderation import ModerationRepository, ReportRepository
from connectnow.services import policy
from connectnow.services.attachments import ReaderCheck
from connectnow.services.auth import Principal
from connectnow.services.chat_access import ChatAccess
from connectnow.services.leases import LeaseSpec, LeaseWorker
from connectnow.services.messages import MessageService
from connectnow.services.policy import Action
from connectnow.store.port import Document, DocumentStore, DuplicateKeyError
from models.attachments import ConversationKind
from models.messages import MessageRecord
from models.moderation import (
    ModerationList,
    ModerationPublic,
    ModerationRecord,
    ReportIn,
    ReportList,
    ReportPublic,
    ReportRecord,
    ReportRef,
)

PURGE_SPEC = LeaseSpec(ready_statuses=("kept",), due_field="purgeAt")
PURGE_LEASE_SECONDS = 120.0


class FileDiscarder(Protocol):
    async def discard_for_message(self, kind: ConversationKind, message_id: str) -> int: ...


class KeptMessages:
    """Keeps a deleted channel message for review: what deleting a message (MessageService) and serving its
    files (the attachments' reader check) need, built before both so neither waits for the other."""

    def __init__(self, store: DocumentStore, access: ChatAccess, *, retention_seconds: float) -> None:
        self.repo = ModerationRepository(store)
        self.access = access
        self.retention = timedelta(seconds=retention_seconds)

    # --- keeping -----------------------------------------------------------------------------------------
    async def keep(self, message: MessageRecord, deleted_by: str) -> ModerationRecord:
        """Called before the tombstone is written, so a crash in between loses nothing."""
        now = utcnow()
        record = ModerationRecord(
            id=new_id(), workspace_id=message.workspace_id, channel_id=message.channel_id, message_id=message.id,
            author_id=message.user_id, deleted_by=deleted_by, title=message.title, content=message.content,
            mentions=message.mentions, attachments=message.attachments, message_created_at=message.created_at,
            deleted_at=now, purge_at=now + self.retention,
        )  # fmt: skip
        await self.repo.delete({"messageId": message.id, "status": "kept"})  # a retried delete: the newest wins
        return await self.repo.insert(record)

    async def forget(self, message_id: str) -> None:
        """The tombstone was not written after all (someone else deleted it first)."""
        await self.repo.delete({"messageId": message_id, "status": "kept"})

    async def may_read_files(self, user_id: str, message_id: str) -> bool:
        """A deleted message's files, until the purge: for the author and the workspace's ADMIN+."""
        record = await self.repo.live_for_message(message_id)
        if record is None:
            return False
        if record.author_id == user_id:
            return True
        member = await self.access.members.of(record.workspace_id, user_id)
        return member is not None and policy.allows(member.role, Action.MODERATION_READ)


class ModerationService:
    def __init__(
        self,
        store: DocumentStore,
        messages: MessageService,
        files: FileDiscarder | None,
        *,
        poll_seconds: float,
    ) -> None:
        self.repo = ModerationRepository(store)
        self.reports = ReportRepository(store)
        self.messages = messages
        self.access = messages.access
        self.files = files
        self.queue = self.repo.lease_queue(PURGE_SPEC, lease_seconds=PURGE_LEASE_SECONDS)
        self.worker = LeaseWorker("moderation-purge", self.queue, self._purge, poll_seconds=poll_seconds)

    # --- reading -----------------------------------------------------------------------------------------
    async def get(self, principal: Principal, message_id: str) -> ModerationPublic:
        record = await self.repo.live_for_message(message_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No moderation record for this message (none, or purged)")
        if record.author_id != principal.user_id:
            member = await self.access.members.of(record.workspace_id, principal.user_id)
            if member is None:
                raise AppError(errors.NOT_FOUND, "No moderation record for this message (none, or purged)")
            policy.require(member.role, Action.MODERATION_READ)
        return ModerationPublic.model_validate(record, from_attributes=True)

    async def recent(self, principal: Principal, query: ModerationList) -> list[ModerationPublic]:
        _, member = await self.access.membership(query.workspace_id, principal.user_id)
        policy.require(member.role, Action.MODERATION_READ)
        rows = await self.repo.live_in_workspace(query.workspace_id, limit=query.limit)
        return [ModerationPublic.model_validate(r, from_attributes=True) for r in rows]

    # --- reports -----------------------------------------------------------------------------------------
    async def report(self, principal: Principal, data: ReportIn) -> ReportPublic:
        """Any reader of a message may report it once; the workspace's staff hear of it at once."""
        record, _ = await self.messages.message_in_readable(principal, data.message_id)
        if record.user_id == principal.user_id:
            raise AppError(errors.VALIDATION_FAILED, "You cannot report your own message")
        report = ReportRecord(
            id=new_id(), workspace_id=record.workspace_id, channel_id=record.channel_id, message_id=record.id,
            reporter_id=principal.user_id, reason=data.reason, created_at=utcnow(),
        )  # fmt: skip
        try:
            await self.reports.insert(report)
        except DuplicateKeyError:
            first = await self.reports.find_one({"messageId": record.id, "reporterId": principal.user_id})
            return ReportPublic.model_validate(first or report, from_attributes=True)
        public = ReportPublic.model_validate(report, from_attributes=True)
        await self._tell_staff(record.workspace_id, "report:created", {"report": public})
        return public

    async def list_reports(self, principal: Principal, query: ReportList) -> list[ReportPublic]:
        _, member = await self.access.membership(query.workspace_id, principal.user_id)
        policy.require(member.role, Action.REPORT_REVIEW)
        rows = await self.reports.find(
            {"workspaceId": query.workspace_id, "status": query.status}, sort=[("createdAt", -1)], limit=query.limit
        )
        return [ReportPublic.model_validate(r, from_attributes=True) for r in rows]

    async def resolve(self, principal: Principal, data: ReportRef) -> ReportPublic:
        found = await self.reports.get(data.report_id)
        member = await self.access.members.of(found.workspace_id, principal.user_id) if found else None
        if found is None or member is None:
            raise AppError(errors.NOT_FOUND, "No such report")
        policy.require(member.role, Action.REPORT_REVIEW)
        updated = await self.reports.resolve(found.id, principal.user_id, utcnow())
        if updated is None:  # already resolved: answer it as it is
            return ReportPublic.model_validate(found, from_attributes=True)
        public = ReportPublic.model_validate(updated, from_attributes=True)
        await self._tell_staff(found.workspace_id, "report:resolved", {"report": public})
        return public

    async def _tell_staff(self, workspace_id: str, event: str, body: dict[str, object]) -> None:
        reviewers = sorted(r.value for r in policy.ALLOWED[Action.REPORT_REVIEW])
        staff = await self.access.members.with_roles(workspace_id, reviewers)
        for member in staff:
            await self.messages.hub.emit(event, body, room=user_room(member.user_id))

    # --- purging -----------------------------------------------------------------------------------------
    async def _purge(self, item: Document, worker_id: str) -> None:
        message_id = str(item["messageId"])
        if self.files is not None:  # idempotent: a retry after a crash finds nothing left to erase
            await self.files.discard_for_message(ConversationKind.CHANNEL, message_id)
        erased = {"content": "", "mentions": [], "attachments": [], "purgedAt": utcnow()}
        await self.queue.finish(str(item["id"]), worker_id, "purged", erased)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()


def with_kept_files(live: ReaderCheck, kept: KeptMessages) -> ReaderCheck:
    """Channel attachments: the live message's readers, or, once it is deleted, who may review it."""

    async def check(user_id: str, message_id: str) -> bool:
        return await live(user_id, message_id) or await kept.may_read_files(user_id, message_id)

    return check
