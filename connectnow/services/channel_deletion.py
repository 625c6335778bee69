"""Deleting a channel: hidden at once, then emptied by a resumable leased job.

The request (workspace OWNER or ADMIN, policy `channel.delete`; never the default channel) removes the
channel and its memberships, tells its readers (`channel:deleted`, after those writes) and takes their
sockets out of the room, and stores a `channel_deletions` item. The `channel-deletion` LeaseWorker then
removes the messages batch by batch (files and reactions first, then the messages, so a batch cut short is
simply found again), then the counters, moderation records and reports, and finishes the item. A worker
that dies mid-job leaves its lease to expire and the next claim resumes where the data says it stopped.
"""

from __future__ import annotations

from typing import Any, Protocol

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.base import Repository
from connectnow.services import policy
from connectnow.services.auth import Principal
from connectnow.services.channels import ChannelService
from connectnow.services.chat_access import channel_room, workspace_room
from connectnow.services.leases import LeaseQueue, LeaseSpec, LeaseWorker
from connectnow.services.policy import Action
from connectnow.store.port import Document, DocumentStore
from models.attachments import ConversationKind
from models.base import StoredModel, UtcDateTime

BATCH = 200
DELETION_SPEC = LeaseSpec()  # status pending -> running -> done, due at scheduledFor


class FileDiscarder(Protocol):
    async def discard_for_message(self, kind: ConversationKind, message_id: str) -> int: ...


class ChannelDeletionRecord(StoredModel):
    channel_id: str
    workspace_id: str
    requested_by: str
    status: str = "pending"
    scheduled_for: UtcDateTime
    attempts: int = 0
    created_at: UtcDateTime


class ChannelDeletionRepository(Repository[ChannelDeletionRecord]):
    collection_name = "channel_deletions"
    model = ChannelDeletionRecord


class ChannelDeletionService:
    def __init__(
        self,
        store: DocumentStore,
        channels: ChannelService,
        files: FileDiscarder | None,
        *,
        poll_seconds: float,
        lease_seconds: float = 120.0,
        batch: int = BATCH,
    ) -> None:
        self.store = store
        self.jobs = ChannelDeletionRepository(store)
        self.channels = channels
        self.files = files
        self.batch = batch
        self.queue = LeaseQueue(self.jobs.coll, DELETION_SPEC, lease_seconds=lease_seconds)
        self.worker = LeaseWorker("channel-deletion", self.queue, self.run, poll_seconds=poll_seconds)

    async def request(self, principal: Principal, channel_id: str) -> dict[str, str]:
        access = await self.channels.access.channel(channel_id, principal.user_id)
        policy.require(access.role, Action.CHANNEL_DELETE)
        channel = access.channel
        if channel.is_default:
            raise AppError(errors.FORBIDDEN, "The default channel cannot be deleted")
        readers = await self.channels.access.readers(channel)
        now = utcnow()
        job = ChannelDeletionRecord(
            id=new_id(), channel_id=channel.id, workspace_id=channel.workspace_id, requested_by=principal.user_id,
            scheduled_for=now, created_at=now,
        )  # fmt: skip
        await self.jobs.insert(job)  # first: whatever happens next, the data is removed in the end
        await self.channels.access.channel_members.delete({"channelId": channel.id})
        await self.channels.access.channels.delete({"id": channel.id})
        body = {"channelId": channel.id, "workspaceId": channel.workspace_id}
        room = channel_room(channel.id) if channel.is_private else workspace_room(channel.workspace_id)
        await self.channels.hub.emit("channel:deleted", body, room=room)  # also flushes access caches
        for user_id in readers:
            await self.channels.hub.leave_user(user_id, channel_room(channel.id))
        self.worker.wake()
        return {"channelId": channel.id, "jobId": job.id}

    async def run(self, item: Document, worker_id: str) -> None:
        """The job: resumable, each batch idempotent."""
        channel_id = str(item["channelId"])
        log = self.channels.messages.log
        removed = 0
        while batch := await log.repo.find({"channelId": channel_id}, limit=self.batch):
            ids = [m.id for m in batch]
            if self.files is not None:
                for message_id in ids:
                    await self.files.discard_for_message(ConversationKind.CHANNEL, message_id)
            await self.channels.messages.reactions.delete({"messageId": {"$in": ids}})
            await log.repo.delete({"id": {"$in": ids}})
            removed += len(ids)
            if not await self.queue.renew(str(item["id"]), worker_id):
                return  # our lease was taken over: the new owner carries on
        await log.purge([channel_id])  # the counters
        for collection in ("moderation_records", "message_reports"):
            await self.store.collection(collection).delete_many({"channelId": channel_id})
        done: dict[str, Any] = {"removedMessages": removed, "finishedAt": utcnow()}
        await self.queue.finish(str(item["id"]), worker_id, "done", done)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
