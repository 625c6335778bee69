"""Deleting a workspace: access ends at once, then a resumable leased job removes everything (both adapters).

The first worker's file port fails half-way (as a crash would stop it); its lease expires and a second
worker, with another identity, claims the item and finishes: no channel, message, reaction, counter,
invite, ban, attachment record or file of the workspace is left.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.files.storage import LocalFileStorage
from connectnow.realtime.ratelimit import RateRules
from connectnow.realtime.ratelimit_memory import MemoryRateLimiter
from connectnow.repositories.deletions import WorkspaceDeletionRecord
from connectnow.services.attachments import AttachmentService
from connectnow.services.channel_deletion import ChannelDeletionService
from models.attachments import ConversationKind
from models.channels import ChannelCreate
from models.messages import MessageSend, ReactionIn
from models.workspaces import BanCreate, InviteCreate, WorkspaceCreate
from tests.attachments.helpers import png_bytes
from tests.chat.conftest import Chat

BATCH = 2
LEASE_SECS = 0.3
GONE = (
    "workspaces", "workspace_members", "workspace_invites", "workspace_bans", "channels", "channel_members",
    "messages", "message_reactions", "conversation_counters", "attachments",
)  # fmt: skip


class DyingFiles:
    """The real file port, which stops working after `alive` message discards, like a worker killed mid-job."""

    def __init__(self, real: AttachmentService, alive: int | None) -> None:
        self.real = real
        self.alive = alive
        self.calls: list[str] = []

    async def discard_for_message(self, kind: ConversationKind, message_id: str) -> int:
        if self.alive is not None and len(self.calls) >= self.alive:
            raise RuntimeError("worker died")
        self.calls.append(message_id)
        return await self.real.discard_for_message(kind, message_id)

    async def discard_for_conversation(self, kind: ConversationKind, conversation_id: str) -> int:
        return await self.real.discard_for_conversation(kind, conversation_id)


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_a_workspace_deletion_cut_short_is_resumed_and_leaves_nothing(
    chat: Chat, settings: Settings, tmp_path: Path
) -> None:
    files_root = tmp_path / "files"
    attachments = AttachmentService(
        chat.store, LocalFileStorage(files_root), settings, MemoryRateLimiter(RateRules.from_settings(settings))
    )
    chat.svc.messages.attachments = attachments
    owner, other = await chat.user("owner"), await chat.user("other")
    ws = await chat.svc.workspaces.create(owner, WorkspaceCreate.model_validate({"name": "Gone", "isPublic": True}))
    await chat.svc.workspaces.join_public(other, ws.id)
    for name in ("one", "two"):
        channel = await chat.svc.channels.create(
            owner, ChannelCreate.model_validate({"workspaceId": ws.id, "name": name})
        )
        for i in range(3):
            upload = await attachments.upload(owner, f"{name}{i}.png", png_bytes(32, 32))
            body = {"channelId": channel.id, "content": f"{name}{i}", "clientMsgId": f"{name}{i}"}
            sent, _ = await chat.svc.messages.send(
                owner, MessageSend.model_validate({**body, "attachmentIds": [upload.id]})
            )
            await chat.svc.reactions.add(owner, ReactionIn.model_validate({"messageId": sent.id, "emoji": "👍"}))
    await chat.svc.workspaces.create_invite(owner, InviteCreate.model_validate({"workspaceId": ws.id}))
    outsider = await chat.user("outsider")
    await chat.svc.workspaces.ban(owner, BanCreate.model_validate({"workspaceId": ws.id, "userId": outsider.user_id}))
    unrelated = await attachments.upload(other, "mine.png", png_bytes(16, 16))  # not in the workspace: stays
    assert await chat.count("attachments") == 7 and len(stored_files(files_root)) >= 7
    messages = await chat.count("messages")  # 6 sent and the system message of `other` joining

    # `workspace:deleted` is sent after access is gone: a client that reacts to it is refused.
    stored_at_emit: list[int] = []
    emit = chat.hub.emit

    async def watching_emit(event: str, data: Any, **kw: Any) -> None:
        if event == "workspace:deleted":
            stored_at_emit.append(await chat.count("workspaces") + await chat.count("workspace_members"))
        await emit(event, data, **kw)

    chat.hub.emit = watching_emit  # type: ignore[method-assign]
    await chat.svc.workspaces.delete(owner, ws.id)
    chat.hub.emit = emit  # type: ignore[method-assign]
    assert stored_at_emit == [0]
    for who in (owner, other):
        with pytest.raises(AppError) as info:
            await chat.svc.workspaces.get(who, ws.id)
        assert info.value.code == errors.NOT_FOUND.code

    def worker(files: DyingFiles) -> ChannelDeletionService:
        return ChannelDeletionService(
            chat.store, chat.svc.channels, files, poll_seconds=60, lease_seconds=LEASE_SECS, batch=BATCH
        )

    dying, healthy = DyingFiles(attachments, alive=BATCH + 1), DyingFiles(attachments, alive=None)
    first, second = worker(dying), worker(healthy)
    assert await first.workspace_worker.run_once() == 1 and first.workspace_worker.failures == 1
    assert 0 < await chat.count("messages") < messages  # one batch went, the rest waits
    assert await second.workspace_worker.run_once() == 0  # the lease still holds
    await asyncio.sleep(LEASE_SECS * 2)
    assert await second.workspace_worker.run_once() == 1 and second.workspace_worker.failures == 0

    left = {name: await chat.count(name) for name in GONE}
    assert left == {name: 0 for name in GONE} | {"attachments": 1}
    remaining = stored_files(files_root)
    record = await attachments.repo.get(unrelated.id)
    assert record is not None
    assert {p.relative_to(files_root).as_posix() for p in remaining} <= {record.storage_key, record.thumbnail_key}
    job = await chat.store.collection("workspace_deletions").find_one({"workspaceId": ws.id})
    assert job is not None and job["status"] == "done" and job["removedMessages"] > 0
    assert len(set(dying.calls) | set(healthy.calls)) == messages  # every message's files were discarded


async def test_the_job_revokes_access_when_the_request_died_first(chat: Chat) -> None:
    """A request that stored its job and died: the job ends access, says so, and removes everything."""
    owner = await chat.user("owner")
    ws = await chat.svc.workspaces.create(owner, WorkspaceCreate.model_validate({"name": "Half", "isPublic": True}))
    now = utcnow()
    await chat.svc.chat.workspace_deletions.insert(
        WorkspaceDeletionRecord(
            id=new_id(), workspace_id=ws.id, requested_by=owner.user_id, scheduled_for=now, created_at=now
        )
    )
    deletion = ChannelDeletionService(chat.store, chat.svc.channels, None, poll_seconds=60)
    assert await deletion.workspace_worker.run_once() == 1 and deletion.workspace_worker.failures == 0
    assert chat.hub.events("workspace:deleted") == [{"workspaceId": ws.id}]
    assert {name: await chat.count(name) for name in GONE} == {name: 0 for name in GONE}
