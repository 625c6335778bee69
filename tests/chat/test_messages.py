"""Channel messages on both adapters: send, replay, edit, delete, pins, threads, mentions, reactions, search,
read state, archived channels, and refused input that stores nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from connectnow import errors
from connectnow.errors import AppError
from connectnow.identity import Principal
from models.channels import ChannelCreate, ChannelMemberChange, ChannelUpdate
from models.messages import (
    HistoryQuery,
    MarkRead,
    MessageEdit,
    MessageSend,
    ReactionIn,
    SearchQuery,
    ThreadQuery,
)
from models.workspaces import MemberUpdate, WorkspaceCreate
from tests.chat.conftest import Chat

_n = iter(range(1_000_000))


async def refused(code: errors.ErrorCode, coro: Any) -> AppError:
    with pytest.raises(AppError) as info:
        await coro
    assert info.value.error is code, info.value
    return info.value


def send_in(channel_id: str, content: str = "hello", **extra: Any) -> MessageSend:
    return MessageSend.model_validate(
        {"channelId": channel_id, "content": content, "clientMsgId": f"c{next(_n)}", **extra}
    )


async def setup(chat: Chat) -> tuple[Principal, Principal, Principal, str, str]:
    """alice owns a public workspace with #general; bob is a member; eve is an outsider."""
    alice, bob, eve = await chat.user("alice"), await chat.user("bob"), await chat.user("eve")
    ws = await chat.svc.workspaces.create(alice, WorkspaceCreate.model_validate({"name": "Acme", "isPublic": True}))
    await chat.svc.workspaces.join_public(bob, ws.id)
    general = (await chat.svc.channels.visible(alice, ws.id))[0].id
    return alice, bob, eve, ws.id, general


async def test_send_replay_history_and_events(chat: Chat) -> None:
    alice, bob, _, _, general = await setup(chat)
    data = send_in(general, "hi @bob and @nobody")
    first, created = await chat.svc.messages.send(alice, data)
    again, created_again = await chat.svc.messages.send(alice, data)
    assert created and not created_again and again.id == first.id and again.seq == first.seq
    assert first.mentions == [bob.user_id] and not first.is_bot
    events = chat.hub.events("message:new", f"channel:{general}")
    assert [e["messageId"] for e in events if e["message"]["type"] == "TEXT"] == [first.id]
    assert chat.hub.events("message:mention", f"user:{bob.user_id}")[0]["messageId"] == first.id
    page = await chat.svc.messages.history(bob, HistoryQuery.model_validate({"channelId": general}))
    assert [m.seq for m in page] == list(range(1, len(page) + 1))  # gap-free, system messages included
    assert page[-1].id == first.id


async def test_concurrent_replays_of_one_client_msg_id_store_one(chat: Chat) -> None:
    alice, _, _, _, general = await setup(chat)
    data = send_in(general, "once")
    results = await asyncio.gather(*(chat.svc.messages.send(alice, data) for _ in range(10)))
    assert sum(created for _, created in results) == 1
    assert len({m.id for m, _ in results}) == 1
    stored = await chat.store.collection("messages").count({"clientMsgId": data.client_msg_id})
    assert stored == 1


async def test_edit_conflict_delete_tombstone_and_thread(chat: Chat) -> None:
    alice, bob, _, _, general = await setup(chat)
    root, _ = await chat.svc.messages.send(alice, send_in(general, "root"))
    reply, _ = await chat.svc.messages.send(bob, send_in(general, "reply", parentId=root.id))
    parent = await chat.svc.messages.get(alice, root.id)
    assert parent.reply_count == 1 and parent.last_reply_at == reply.created_at
    assert chat.hub.events("thread:updated")[-1]["replyCount"] == 1
    await refused(
        errors.VALIDATION_FAILED, chat.svc.messages.send(alice, send_in(general, "nested", parentId=reply.id))
    )
    edit = MessageEdit.model_validate({"messageId": root.id, "content": "root!", "version": root.version})
    edited = await chat.svc.messages.edit(alice, edit)
    assert edited.is_edited and edited.edited_at is not None and edited.version == root.version + 1
    conflict = await refused(errors.VERSION_CONFLICT, chat.svc.messages.edit(alice, edit))
    assert conflict.details == {"currentVersion": edited.version}
    await refused(
        errors.FORBIDDEN,
        chat.svc.messages.edit(bob, MessageEdit.model_validate({"messageId": root.id, "content": "x", "version": 2})),
    )
    await refused(errors.ROLE_TOO_LOW, chat.svc.messages.delete(bob, root.id))
    deleted = await chat.svc.messages.delete(alice, root.id)
    assert deleted.is_deleted and deleted.content == "" and deleted.deleted_at is not None
    replies = await chat.svc.messages.thread(bob, ThreadQuery.model_validate({"messageId": root.id}))
    assert [m.id for m in replies] == [reply.id]  # replies stay
    seen = await chat.svc.messages.get(bob, root.id)
    assert seen.is_deleted and seen.content == ""  # a tombstone for everyone
    await refused(errors.MESSAGE_DELETED, chat.svc.messages.delete(alice, root.id))


async def test_event_seq_increases_on_every_mutation(chat: Chat) -> None:
    alice, bob, _, _, general = await setup(chat)
    msg, _ = await chat.svc.messages.send(alice, send_in(general, "stamp me"))
    await chat.svc.reactions.add(bob, ReactionIn.model_validate({"messageId": msg.id, "emoji": "👍"}))
    await chat.svc.messages.set_pinned(alice, msg.id, True)
    await chat.svc.messages.edit(alice, MessageEdit.model_validate({"messageId": msg.id, "content": "x", "version": 1}))
    await chat.svc.messages.delete(alice, msg.id)
    names = ("message:new", "reaction:added", "message:pinned", "message:updated", "message:deleted")
    stamped = [d for e, r, d in chat.hub.sent if e in names and r == f"channel:{general}"]
    seqs = [d["eventSeq"] for d in stamped]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(d["seq"] is not None for d in stamped)
    record = await chat.svc.messages.log.get(msg.id)
    assert record is not None and record.last_event_seq == seqs[-1]
    changed = await chat.svc.messages.log.changed_since(general, seqs[0])
    assert [m.id for m in changed] == [msg.id]


async def test_reactions_unique_counts_and_who(chat: Chat) -> None:
    alice, bob, eve, _, general = await setup(chat)
    msg, _ = await chat.svc.messages.send(alice, send_in(general))
    react = ReactionIn.model_validate({"messageId": msg.id, "emoji": "🎉"})
    await chat.svc.reactions.add(alice, react)
    await chat.svc.reactions.add(alice, react)  # idempotent
    summary = await chat.svc.reactions.add(bob, react)
    assert [(s.emoji, s.count, sorted(s.user_ids)) for s in summary] == [
        ("🎉", 2, sorted([alice.user_id, bob.user_id]))
    ]
    assert await chat.count("message_reactions") == 2
    summary = await chat.svc.reactions.remove(alice, react)
    assert [(s.count, s.user_ids) for s in summary] == [(1, [bob.user_id])]
    await refused(errors.NOT_FOUND, chat.svc.reactions.add(eve, react))
    with pytest.raises(ValidationError):
        ReactionIn.model_validate({"messageId": msg.id, "emoji": "a b"})


async def test_pins(chat: Chat) -> None:
    alice, bob, _, ws_id, general = await setup(chat)
    msg, _ = await chat.svc.messages.send(alice, send_in(general))
    pinned = await chat.svc.messages.set_pinned(bob, msg.id, True)
    assert pinned.is_pinned and pinned.pinned_by == bob.user_id
    assert [m.id for m in await chat.svc.messages.pins(alice, general)] == [msg.id]
    unpinned = await chat.svc.messages.set_pinned(alice, msg.id, False)
    assert not unpinned.is_pinned and unpinned.pinned_at is None
    assert await chat.svc.messages.pins(alice, general) == []
    # Guests may not pin.
    await chat.svc.workspaces.update_member(
        alice, MemberUpdate.model_validate({"workspaceId": ws_id, "userId": bob.user_id, "role": "GUEST"})
    )
    await refused(errors.ROLE_TOO_LOW, chat.svc.messages.set_pinned(bob, msg.id, True))


async def test_private_channels_archive_and_outsiders(chat: Chat) -> None:
    alice, bob, eve, ws_id, general = await setup(chat)
    secret = await chat.svc.channels.create(
        alice, ChannelCreate.model_validate({"workspaceId": ws_id, "name": "secret", "isPrivate": True})
    )
    # bob cannot see, read, join or post in it; the ids answer NOT_FOUND.
    assert "secret" not in [c.name for c in await chat.svc.channels.visible(bob, ws_id)]
    await refused(errors.NOT_FOUND, chat.svc.channels.join(bob, secret.id))
    await refused(errors.NOT_FOUND, chat.svc.messages.send(bob, send_in(secret.id)))
    await refused(
        errors.NOT_FOUND, chat.svc.messages.history(bob, HistoryQuery.model_validate({"channelId": secret.id}))
    )
    msg, _ = await chat.svc.messages.send(alice, send_in(secret.id, "classified"))
    await refused(
        errors.NOT_FOUND, chat.svc.reactions.add(bob, ReactionIn.model_validate({"messageId": msg.id, "emoji": ":x:"}))
    )
    assert not await chat.svc.messages.can_read_message(bob.user_id, msg.id)
    assert await chat.svc.messages.can_read_message(alice.user_id, msg.id)
    # Outsider eve sees nothing of the workspace.
    await refused(errors.NOT_A_MEMBER, chat.svc.channels.visible(eve, ws_id))
    await refused(errors.NOT_FOUND, chat.svc.messages.send(eve, send_in(general)))
    # Added, bob can read; the room follows.
    await chat.svc.channels.add_member(
        alice, ChannelMemberChange.model_validate({"channelId": secret.id, "userId": bob.user_id})
    )
    assert ("join", bob.user_id, f"channel:{secret.id}") in chat.hub.moves
    assert await chat.svc.messages.can_read_message(bob.user_id, msg.id)
    # Archived: read-only for everyone.
    await chat.svc.channels.set_archived(alice, secret.id, True)
    await refused(errors.CHANNEL_ARCHIVED, chat.svc.messages.send(alice, send_in(secret.id)))
    await refused(errors.CHANNEL_ARCHIVED, chat.svc.messages.delete(alice, msg.id))
    assert len(await chat.svc.messages.history(bob, HistoryQuery.model_validate({"channelId": secret.id}))) >= 1
    await chat.svc.channels.set_archived(alice, secret.id, False)
    await chat.svc.messages.send(alice, send_in(secret.id, "back"))
    # Public made private: workspace members who are not in it leave the room at once.
    room = await chat.svc.channels.create(alice, ChannelCreate.model_validate({"workspaceId": ws_id, "name": "open"}))
    await chat.svc.channels.update(alice, ChannelUpdate.model_validate({"channelId": room.id, "isPrivate": True}))
    assert ("leave", bob.user_id, f"channel:{room.id}") in chat.hub.moves
    assert chat.hub.events("channel:removed", f"user:{bob.user_id}")


async def test_channel_names_topic_positions_and_membership(chat: Chat) -> None:
    alice, bob, _, ws_id, _ = await setup(chat)
    a = await chat.svc.channels.create(alice, ChannelCreate.model_validate({"workspaceId": ws_id, "name": "Random"}))
    assert a.name == "random" and a.position == 1
    await refused(
        errors.CHANNEL_NAME_TAKEN,
        chat.svc.channels.create(bob, ChannelCreate.model_validate({"workspaceId": ws_id, "name": "RANDOM"})),
    )
    b = await chat.svc.channels.create(
        bob, ChannelCreate.model_validate({"workspaceId": ws_id, "name": "voice", "type": "VOICE", "position": 0})
    )
    names = [c.name for c in await chat.svc.channels.visible(alice, ws_id)]
    assert names.index("voice") < names.index("random")
    await chat.svc.channels.update(alice, ChannelUpdate.model_validate({"channelId": a.id, "topic": "Anything"}))
    topic_msgs = await chat.svc.messages.history(alice, HistoryQuery.model_validate({"channelId": a.id}))
    assert topic_msgs[-1].system_event == "topic.changed" and "Anything" in topic_msgs[-1].content
    await refused(
        errors.ROLE_TOO_LOW,
        chat.svc.channels.update(bob, ChannelUpdate.model_validate({"channelId": a.id, "topic": "mine"})),
    )
    await chat.svc.channels.join(bob, a.id)
    await refused(errors.NOT_A_MEMBER, chat.svc.channels.leave(alice, b.id))
    await chat.svc.channels.leave(bob, a.id)
    events = [
        m.system_event for m in await chat.svc.messages.history(alice, HistoryQuery.model_validate({"channelId": a.id}))
    ]
    assert events[-2:] == ["member.joined", "member.left"]
    with pytest.raises(ValidationError):
        ChannelCreate.model_validate({"workspaceId": ws_id, "name": "has space"})


async def test_search_only_readable_channels(chat: Chat) -> None:
    alice, bob, _, ws_id, general = await setup(chat)
    secret = await chat.svc.channels.create(
        alice, ChannelCreate.model_validate({"workspaceId": ws_id, "name": "secret", "isPrivate": True})
    )
    await chat.svc.messages.send(alice, send_in(general, "the quarterly report is ready"))
    await chat.svc.messages.send(alice, send_in(secret.id, "the secret report numbers"))
    gone, _ = await chat.svc.messages.send(alice, send_in(general, "report draft to delete"))
    await chat.svc.messages.delete(alice, gone.id)
    query = SearchQuery.model_validate({"workspaceId": ws_id, "query": "report"})
    assert {m.content for m in await chat.svc.search.search(alice, query)} == {
        "the quarterly report is ready",
        "the secret report numbers",
    }
    assert [m.content for m in await chat.svc.search.search(bob, query)] == ["the quarterly report is ready"]


async def test_search_follows_edits_through_reactions_and_pins(chat: Chat) -> None:
    """Reactions and pins leave a message's search row alone (SQLite: migration 0155); an edit re-indexes it."""
    alice, bob, _, ws_id, general = await setup(chat)
    msg, _ = await chat.svc.messages.send(alice, send_in(general, "the orange ledger"))

    async def found(word: str) -> list[str]:
        query = SearchQuery.model_validate({"workspaceId": ws_id, "query": word})
        return [m.content for m in await chat.svc.search.search(bob, query)]

    await chat.svc.reactions.add(bob, ReactionIn.model_validate({"messageId": msg.id, "emoji": "🎉"}))
    pinned = await chat.svc.messages.set_pinned(bob, msg.id, True)
    assert await found("orange") == ["the orange ledger"]
    edit = MessageEdit.model_validate({"messageId": msg.id, "content": "the purple ledger", "version": pinned.version})
    await chat.svc.messages.edit(alice, edit)
    await chat.svc.messages.set_pinned(bob, msg.id, False)
    assert await found("orange") == [] and await found("purple") == ["the purple ledger"]


async def test_read_state_unread_mentions_receipts(chat: Chat) -> None:
    alice, bob, _, ws_id, general = await setup(chat)
    await chat.svc.messages.send(alice, send_in(general, "one"))
    await chat.svc.messages.send(alice, send_in(general, "two @bob"))
    last, _ = await chat.svc.messages.send(alice, send_in(general, "three"))
    counts = {c.channel_id: c for c in await chat.svc.read_state.unread(bob, ws_id)}
    assert counts[general].mentions == 1 and counts[general].unread >= 3
    receipt = await chat.svc.read_state.mark_read(
        bob, MarkRead.model_validate({"channelId": general, "messageId": last.id})
    )
    assert receipt.last_read_seq == last.seq
    counts = {c.channel_id: c for c in await chat.svc.read_state.unread(bob, ws_id)}
    assert (counts[general].unread, counts[general].mentions) == (0, 0)
    assert bob.user_id in [r.user_id for r in await chat.svc.read_state.receipts(alice, last.id)]
    assert chat.hub.events("channel:read", f"channel:{general}")


@pytest.mark.parametrize(
    "body",
    [
        {"content": {"$ne": None}},
        {"content": ["a"]},
        {"content": 5},
        {"content": "a\x00b"},
        {"content": "abc\u202edef"},
        {"content": "\udc00"},
        {"clientMsgId": {"$ne": None}},
        {"clientMsgId": "has space"},
        {"channelId": {"$ne": None}},
        {"parentId": {"$gt": ""}},
        {"type": "BOGUS"},
        {"userId": "0" * 24},
        {"attachmentIds": "x"},
    ],
)
def test_bad_message_shapes_are_refused(body: dict[str, Any]) -> None:
    base = {"channelId": "0" * 24, "content": "hi", "clientMsgId": "c1"}
    with pytest.raises(ValidationError):
        MessageSend.model_validate({**base, **body})


async def test_bad_content_and_ids_store_nothing(chat: Chat, settings: Any) -> None:
    alice, _, _, _, general = await setup(chat)
    before = await chat.count("messages")
    await refused(errors.VALIDATION_FAILED, chat.svc.messages.send(alice, send_in(general, "")))
    await refused(errors.VALIDATION_FAILED, chat.svc.messages.send(alice, send_in(general, "   ")))
    await refused(
        errors.PAYLOAD_TOO_LARGE,
        chat.svc.messages.send(alice, send_in(general, "x" * (settings.message_max_chars + 1))),
    )
    await refused(errors.VALIDATION_FAILED, chat.svc.messages.send(alice, send_in(general, "sys", type="SYSTEM")))
    await refused(errors.NOT_FOUND, chat.svc.messages.send(alice, send_in("f" * 24)))
    await refused(errors.NOT_FOUND, chat.svc.messages.send(alice, send_in(general, "r", parentId="f" * 24)))
    # A channel of another workspace is unknown to a non-member.
    other_owner = await chat.user("mallory")
    other = await chat.svc.workspaces.create(other_owner, WorkspaceCreate.model_validate({"name": "Other"}))
    other_general = (await chat.svc.channels.visible(other_owner, other.id))[0].id
    await refused(errors.NOT_FOUND, chat.svc.messages.send(alice, send_in(other_general)))
    foreign, _ = await chat.svc.messages.send(other_owner, send_in(other_general, "theirs"))
    await refused(errors.NOT_FOUND, chat.svc.messages.send(alice, send_in(general, "x", parentId=foreign.id)))
    assert await chat.count("messages") == before + 1  # only mallory's own message


async def test_sends_and_reactions_are_rate_limited(chat: Chat) -> None:
    from connectnow.realtime.ratelimit import RateRule, RateRules
    from connectnow.realtime.ratelimit_memory import MemoryRateLimiter

    rules = RateRules(*(RateRule(name, 2, 0.01) for name in ("send", "react", "typing", "upload")))
    chat.svc.messages.limiter = MemoryRateLimiter(rules)
    alice, _, _, _, general = await setup(chat)
    msg, _ = await chat.svc.messages.send(alice, send_in(general, "1"))
    await chat.svc.messages.send(alice, send_in(general, "2"))
    limited = await refused(errors.RATE_LIMITED, chat.svc.messages.send(alice, send_in(general, "3")))
    assert limited.retry_after is not None and limited.retry_after > 0
    await chat.svc.reactions.add(alice, ReactionIn.model_validate({"messageId": msg.id, "emoji": ":a:"}))
    await chat.svc.reactions.add(alice, ReactionIn.model_validate({"messageId": msg.id, "emoji": ":b:"}))
    await refused(
        errors.RATE_LIMITED,
        chat.svc.reactions.add(alice, ReactionIn.model_validate({"messageId": msg.id, "emoji": ":c:"})),
    )
    assert await chat.store.collection("messages").count({"content": "3"}) == 0


async def test_replays_cost_no_token_and_a_new_send_reads_no_replay_first(chat: Chat) -> None:
    """A send the checks and the limit let through leaves the replay look-up to its step (one read saved);
    a replay found there, or by a check it fails, gives its token back; a refused one is still answered."""
    from connectnow.realtime.ratelimit import RateRule, RateRules
    from connectnow.realtime.ratelimit_memory import MemoryRateLimiter

    rules = RateRules(*(RateRule(name, 4, 0.0001) for name in ("send", "react", "typing", "upload")))
    chat.svc.messages.limiter = MemoryRateLimiter(rules)
    alice, _, _, _, general = await setup(chat)
    reads: list[str] = []
    if chat.store.kind == "sqlite":
        from connectnow.store.store_sqlite import SqliteStore, sqlite_connection

        assert isinstance(chat.store, SqliteStore)
        sqlite_connection(chat.store.reader).set_trace_callback(reads.append)
    root, _ = await chat.svc.messages.send(alice, send_in(general, "root"))  # token 1
    assert not [r for r in reads if "dedupeKey" in r]
    reply_in = send_in(general, "reply", parentId=root.id)
    reply, _ = await chat.svc.messages.send(alice, reply_in)  # token 2
    for _ in range(5):  # found by the step: the token goes back
        again, created = await chat.svc.messages.send(alice, reply_in)
        assert not created and again.id == reply.id
    await chat.svc.messages.delete(alice, root.id)
    again, created = await chat.svc.messages.send(alice, reply_in)  # its root is gone: found by the refusal
    assert not created and again.id == reply.id
    await chat.svc.messages.send(alice, send_in(general, "3"))
    await chat.svc.messages.send(alice, send_in(general, "4"))
    await refused(errors.RATE_LIMITED, chat.svc.messages.send(alice, send_in(general, "5")))
    for data in (reply_in, send_in(general, "root", clientMsgId=root.client_msg_id)):  # drained: still answered
        again, created = await chat.svc.messages.send(alice, data)
        assert not created
    await refused(errors.VALIDATION_FAILED, chat.svc.messages.send(alice, send_in(general, "")))  # before limits
