"""The channel-deletion job resumes after a worker dies mid-job (real store, both adapters).

The first worker's file port fails half-way (as a crash would stop it); its lease expires and a second
worker, with another identity, claims the item and finishes: every message, reaction and counter is gone.
"""

from __future__ import annotations

import asyncio

from connectnow.services.channel_deletion import ChannelDeletionService
from models.attachments import ConversationKind
from models.channels import ChannelCreate
from models.messages import MessageSend, ReactionIn
from models.workspaces import WorkspaceCreate
from tests.chat.conftest import Chat

MESSAGES = 12
BATCH = 4
LEASE_SECS = 0.3


class DyingFiles:
    """A file port that stops working after `alive` calls, like a worker killed mid-job."""

    def __init__(self, alive: int | None) -> None:
        self.alive = alive
        self.calls: list[str] = []

    async def discard_for_message(self, kind: ConversationKind, message_id: str) -> int:
        if self.alive is not None and len(self.calls) >= self.alive:
            raise RuntimeError("worker died")
        self.calls.append(message_id)
        return 0

    async def discard_for_conversation(self, kind: ConversationKind, conversation_id: str) -> int:
        return 0


async def test_a_deletion_cut_short_is_resumed_by_another_worker(chat: Chat) -> None:
    owner = await chat.user("owner")
    ws = await chat.svc.workspaces.create(owner, WorkspaceCreate.model_validate({"name": "Del", "isPublic": True}))
    channel = await chat.svc.channels.create(
        owner, ChannelCreate.model_validate({"workspaceId": ws.id, "name": "gone"})
    )
    for i in range(MESSAGES):
        body = {"channelId": channel.id, "content": f"m{i}", "clientMsgId": f"m{i}"}
        sent, _ = await chat.svc.messages.send(owner, MessageSend.model_validate(body))
        await chat.svc.reactions.add(owner, ReactionIn.model_validate({"messageId": sent.id, "emoji": "👍"}))

    def worker(files: DyingFiles) -> ChannelDeletionService:
        return ChannelDeletionService(
            chat.store, chat.svc.channels, files, poll_seconds=60, lease_seconds=LEASE_SECS, batch=BATCH
        )

    counter_id = chat.svc.messages.log.counters._id(channel.id)
    assert await chat.store.collection("conversation_counters").count({"id": counter_id}) == 1
    dying, healthy = DyingFiles(alive=BATCH + 2), DyingFiles(alive=None)
    first, second = worker(dying), worker(healthy)
    await first.request(owner, channel.id)
    assert await chat.count("channels") == 1  # only #general is left visible

    assert await first.worker.run_once() == 1 and first.worker.failures == 1
    left = await chat.store.collection("messages").count({"channelId": channel.id})
    assert 0 < left < MESSAGES  # one batch went, the rest waits
    assert await second.worker.run_once() == 0  # the lease still holds
    await asyncio.sleep(LEASE_SECS * 2)
    assert await second.worker.run_once() == 1 and second.worker.failures == 0

    assert await chat.store.collection("messages").count({"channelId": channel.id}) == 0
    assert await chat.store.collection("message_reactions").count({"channelId": channel.id}) == 0
    assert await chat.store.collection("conversation_counters").count({"id": counter_id}) == 0
    job = await chat.store.collection("channel_deletions").find_one({"channelId": channel.id})
    assert job is not None and job["status"] == "done"
    # Every message's files were discarded by one worker or the other (a cut batch is redone), none skipped.
    assert len(set(dying.calls) | set(healthy.calls)) == MESSAGES
