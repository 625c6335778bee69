"""The generic message engine on both adapters: gap-free seq and idempotent replays under concurrency."""

from __future__ import annotations

import asyncio

import pytest

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.message_log import MessageLog
from connectnow.store.port import DocumentStore
from models.messages import MessageRecord

SENDERS = 8
MESSAGES_PER_SENDER = 6
REPLAYS = 4


def make_log(store: DocumentStore) -> MessageLog[MessageRecord]:
    return MessageLog(store, MessageRecord, collection="messages", conversation_field="channelId", scope="channel")


def builder(channel_id: str, user_id: str, client_msg_id: str, content: str):  # type: ignore[no-untyped-def]
    def build(seq: int, event_seq: int, key: str) -> MessageRecord:
        now = utcnow()
        return MessageRecord(
            id=new_id(),
            channel_id=channel_id,
            workspace_id="w" * 24,
            user_id=user_id,
            content=content,
            client_msg_id=client_msg_id,
            dedupe_key=key,
            created_at=now,
            updated_at=now,
        )

    return build


async def test_concurrent_senders_and_replays_give_gap_free_seq(store: DocumentStore) -> None:
    log = make_log(store)
    channel = new_id()

    async def send(sender: int, n: int) -> tuple[MessageRecord, bool]:
        user, cmid = f"user{sender}", f"c{n}"
        return await log.append(channel, user, cmid, builder(channel, user, cmid, f"{sender}/{n}"))

    jobs = [send(s, n) for s in range(SENDERS) for n in range(MESSAGES_PER_SENDER) for _ in range(REPLAYS)]
    results = await asyncio.gather(*jobs)
    created = [r for r, was_new in results if was_new]
    assert len(created) == SENDERS * MESSAGES_PER_SENDER
    # Every replay got the original back.
    by_key = {(r.user_id, r.client_msg_id): r.id for r in created}
    assert all(by_key[(r.user_id, r.client_msg_id)] == r.id for r, _ in results)
    stored = await log.repo.find({"channelId": channel})
    assert len(stored) == SENDERS * MESSAGES_PER_SENDER
    assert sorted(m.seq or 0 for m in stored) == list(range(1, SENDERS * MESSAGES_PER_SENDER + 1))
    assert len({m.last_event_seq for m in stored}) == len(stored)


async def test_edit_needs_current_version_and_stamps_events(store: DocumentStore) -> None:
    log = make_log(store)
    channel = new_id()
    msg, _ = await log.append(channel, "u", "a", builder(channel, "u", "a", "hello"))
    edited = await log.edit(msg.id, channel, 1, {"content": "hello!"})
    assert edited.version == 2 and edited.is_edited and edited.last_event_seq > msg.last_event_seq
    with pytest.raises(AppError) as info:
        await log.edit(msg.id, channel, 1, {"content": "stale"})
    assert info.value.error is errors.VERSION_CONFLICT
    assert info.value.details == {"currentVersion": 2}
    assert (await log.get(msg.id, channel)).content == "hello!"  # type: ignore[union-attr]
    deleted = await log.soft_delete(msg.id, channel, {"content": ""})
    assert deleted is not None and deleted.is_deleted and deleted.content == ""
    assert await log.soft_delete(msg.id, channel, {"content": ""}) is None
    changed = await log.changed_since(channel, edited.last_event_seq)
    assert [m.id for m in changed] == [msg.id]


async def test_history_cursors(store: DocumentStore) -> None:
    log = make_log(store)
    channel = new_id()
    for i in range(12):
        await log.append(channel, "u", f"m{i}", builder(channel, "u", f"m{i}", str(i)))
    assert [m.seq for m in await log.page(channel, limit=5)] == [8, 9, 10, 11, 12]
    assert [m.seq for m in await log.page(channel, before=4)] == [1, 2, 3]
    assert [m.seq for m in await log.page(channel, after=10)] == [11, 12]
    assert [m.seq for m in await log.page(channel, around=6, limit=5)] == [4, 5, 6, 7, 8]
    assert await log.page(new_id()) == []


async def test_catch_up_page_stops_before_a_send_in_flight(store: DocumentStore) -> None:
    log = make_log(store)
    channel = new_id()
    for i in range(3):
        await log.append(channel, "u", f"m{i}", builder(channel, "u", f"m{i}", str(i)))
    # Simulate two senders racing: seq 5 is set while seq 4 is still being written (hidden for a moment).
    await log.append(channel, "u", "m3", builder(channel, "u", "m3", "3"))
    await log.append(channel, "u", "m4", builder(channel, "u", "m4", "4"))
    await log.repo.coll.update_one({"channelId": channel, "seq": 4}, {"$unset": {"seq": ""}})
    assert [m.seq for m in await log.page(channel, after=2)] == [3]
    await log.repo.coll.update_one({"channelId": channel, "clientMsgId": "m3"}, {"$set": {"seq": 4}})
    assert [m.seq for m in await log.page(channel, after=2)] == [3, 4, 5]
