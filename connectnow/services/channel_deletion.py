"""Deleting a channel or a workspace: hidden at once, then emptied by a resumable leased job.

Channel: the request (workspace OWNER or ADMIN, policy `channel.delete`; never the default channel) removes the
channel and its memberships, tells its readers (`channel:deleted`, after those writes) and takes their
sockets out of the room, and stores a `channel_deletions` item. The `channel-deletion` LeaseWorker then
removes the messages batch by batch (files and reactions first, then the messages, so a batch cut short is
simply found again), then any file still filed under the channel, the counters, moderation records and
reports, and finishes the item.

Workspace: WorkspaceService.delete stores a `workspace_deletions` item, removes the workspace and its
memberships and sends `workspace:deleted`. The `workspace-deletion` LeaseWorker first makes sure access is
gone (if the request died before doing it, the job does it and sends `workspace:deleted` itself), then
empties each channel as above and removes it (the channel record last, so an interrupted channel is found
again), then the invites and bans, and finishes the item.

A worker that dies mid-job leaves its lease to expire and the next claim resumes where the data says it
stopped; every step is idempotent.
"""

from __future__ import annotations

from typing import Protocol

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.deletions import (
    ChannelDeletionRecord,
    ChannelDeletionRepository,
    WorkspaceDeletionRepository,
)
from connectnow.repositories.leases import Lease, LeaseSpec
from connectnow.repositories.messages import ReactionRepository, channel_log
from connectnow.repositories.moderation import ModerationRepository, ReportRepository
from connectnow.services import policy
from connectnow.services.auth import Principal
from connectnow.services.channels import ChannelService
from connectnow.services.chat_access import channel_room, workspace_room
from connectnow.services.leases import LeaseWorker
from connectnow.services.policy import Action
from connectnow.store.port import Document, DocumentStore
from models.attachments import ConversationKind

BATCH = 200
DELETION_SPEC = LeaseSpec()  # status pending -> running -> done, due at scheduledFor


class FileDiscarder(Protocol):
    async def discard_for_message(self, kind: ConversationKind, message_id: str) -> int: ...

    async def discard_for_conversation(self, kind: ConversationKind, conversation_id: str) -> int: ...


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
        self.jobs = ChannelDeletionRepository(store)
        self.workspace_jobs = WorkspaceDeletionRepository(store)
        self.channels = channels
        self.access = channels.access
        self.log = channel_log(store)
        self.reactions = ReactionRepository(store)
        self.moderation = ModerationRepository(store)
        self.reports = ReportRepository(store)
        self.files = files
        self.batch = batch
        self.queue = self.jobs.lease_queue(DELETION_SPEC, lease_seconds=lease_seconds)
        self.worker = LeaseWorker("channel-deletion", self.queue, self.run, poll_seconds=poll_seconds)
        self.workspace_queue = self.workspace_jobs.lease_queue(DELETION_SPEC, lease_seconds=lease_seconds)
        self.workspace_worker = LeaseWorker(
            "workspace-deletion", self.workspace_queue, self.run_workspace, poll_seconds=poll_seconds
        )

    async def request(self, principal: Principal, channel_id: str) -> dict[str, str]:
        access = await self.access.channel(channel_id, principal.user_id)
        policy.require(access.role, Action.CHANNEL_DELETE)
        channel = access.channel
        if channel.is_default:
            raise AppError(errors.FORBIDDEN, "The default channel cannot be deleted")
        readers = await self.access.readers(channel)
        now = utcnow()
        job = ChannelDeletionRecord(
            id=new_id(), channel_id=channel.id, workspace_id=channel.workspace_id, requested_by=principal.user_id,
            scheduled_for=now, created_at=now,
        )  # fmt: skip
        await self.jobs.insert(job)  # first: whatever happens next, the data is removed in the end
        await self.access.channel_members.delete_for_channel(channel.id)
        await self.access.channels.remove(channel.id)
        body = {"channelId": channel.id, "workspaceId": channel.workspace_id}
        room = channel_room(channel.id) if channel.is_private else workspace_room(channel.workspace_id)
        await self.channels.hub.emit("channel:deleted", body, room=room)  # also flushes access caches
        for user_id in readers:
            await self.channels.hub.leave_user(user_id, channel_room(channel.id))
        self.worker.wake()
        return {"channelId": channel.id, "jobId": job.id}

    async def run(self, item: Document, worker_id: str) -> None:
        """The channel job: resumable, each batch idempotent."""
        lease = Lease(self.queue, str(item["id"]), worker_id)
        removed = await self._empty_channel(str(item["channelId"]), lease)
        if removed is not None:
            await lease.finish({"removedMessages": removed, "finishedAt": utcnow()})

    async def run_workspace(self, item: Document, worker_id: str) -> None:
        """The workspace job: access first (in case the request died before), then channel by channel."""
        workspace_id = str(item["workspaceId"])
        lease = Lease(self.workspace_queue, str(item["id"]), worker_id)
        if await self.access.revoke_workspace(workspace_id):
            body = {"workspaceId": workspace_id}
            await self.channels.hub.emit("workspace:deleted", body, room=workspace_room(workspace_id))
        removed = 0
        for channel in await self.access.channels.in_workspace(workspace_id):
            emptied = await self._empty_channel(channel.id, lease)
            if emptied is None:
                return  # our lease was taken over: the new owner carries on
            removed += emptied
            await self.access.channel_members.delete_for_channel(channel.id)
            await self.access.channels.remove(channel.id)  # last: an interrupted channel is found again
        await self.access.invites.delete_for_workspace(workspace_id)
        await self.access.bans.delete_for_workspace(workspace_id)
        await lease.finish({"removedMessages": removed, "finishedAt": utcnow()})

    async def _empty_channel(self, channel_id: str, lease: Lease) -> int | None:
        """Remove a channel's messages and everything hanging off them; how many messages went, or None
        when the lease was lost midway."""
        removed = 0
        while batch := await self.log.some_of(channel_id, self.batch):
            ids = [m.id for m in batch]
            if self.files is not None:
                for message_id in ids:
                    await self.files.discard_for_message(ConversationKind.CHANNEL, message_id)
            await self.reactions.delete_for_messages(ids)
            await self.log.delete_ids(ids)
            removed += len(ids)
            if not await lease.renew():
                return None
        if self.files is not None:  # claimed for a message that was never stored, or is gone already
            await self.files.discard_for_conversation(ConversationKind.CHANNEL, channel_id)
        await self.log.purge([channel_id])  # the counters
        await self.moderation.delete_for_channel(channel_id)
        await self.reports.delete_for_channel(channel_id)
        return removed

    async def start(self) -> None:
        await self.worker.start()
        await self.workspace_worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.workspace_worker.stop()
