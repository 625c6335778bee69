"""Deletion jobs: the items of the channel- and workspace-deletion lease queues (connectnow/services/deletions)."""

from __future__ import annotations

from connectnow.repositories.base import Repository
from models.base import StoredModel, UtcDateTime


class DeletionJob(StoredModel):
    """What every deletion job holds: who asked, and its place in the lease queue."""

    requested_by: str
    status: str = "pending"
    scheduled_for: UtcDateTime
    attempts: int = 0
    created_at: UtcDateTime


class ChannelDeletionRecord(DeletionJob):
    channel_id: str
    workspace_id: str


class ChannelDeletionRepository(Repository[ChannelDeletionRecord]):
    collection_name = "channel_deletions"
    model = ChannelDeletionRecord

    async def for_channel(self, channel_id: str) -> ChannelDeletionRecord | None:
        return await self.find_one({"channelId": channel_id})


class WorkspaceDeletionRecord(DeletionJob):
    workspace_id: str


class WorkspaceDeletionRepository(Repository[WorkspaceDeletionRecord]):
    collection_name = "workspace_deletions"
    model = WorkspaceDeletionRecord

    async def for_workspace(self, workspace_id: str) -> WorkspaceDeletionRecord | None:
        return await self.find_one({"workspaceId": workspace_id})
