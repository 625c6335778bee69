"""Direct conversations and messages on both storage adapters."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from connectnow import errors
from connectnow.errors import AppError
from models.direct import DirectEdit, DirectHistory, DirectList, DirectMarkRead, DirectPost, DirectSend
from tests.attachments.helpers import make_user, png_bytes
from tests.direct.world import DirectWorld


def send(to: str | None = None, content: str = "hi", cid: str = "c1", **kw: object) -> DirectSend:
    payload: dict[str, object] = {"content": content, "clientMsgId": cid, **kw}
    if to is not None:
        payload["userId"] = to
    return DirectSend.model_validate(payload)


async def test_rooms_for_lists_each_conversation_of_a_user(world: DirectWorld) -> None:
    alice, bob, carol = [await make_user(world.store) for _ in range(3)]
    ab = await world.direct.open(alice, bob.user_id)
    ac = await world.direct.open(carol, alice.user_id)
    assert sorted(await world.direct.rooms_for(alice.user_id)) == sorted([f"dm:{ab.id}", f"dm:{ac.id}"])
    assert await world.direct.rooms_for(bob.user_id) == [f"dm:{ab.id}"]
    # Opening an existing conversation moves nobody again.
    moves = len(world.hub.moves)
    await world.direct.open(bob, alice.user_id)
    assert len(world.hub.moves) == moves


async def test_find_or_create_orders_the_pair_and_is_unique(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    first = await world.direct.open(alice, bob.user_id)
    again = await world.direct.open(bob, alice.user_id)
    assert first.id == again.id
    assert first.user_a_id < first.user_b_id
    assert {first.user_a_id, first.user_b_id} == {alice.user_id, bob.user_id}
    assert first.other_user.id == bob.user_id and again.other_user.id == alice.user_id
    assert first.unread == 0 and first.last_message_at is None
    assert await world.store.collection("direct_conversations").count({}) == 1


async def test_concurrent_opens_make_one_conversation(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    opened = await asyncio.gather(
        *(world.direct.open(alice if i % 2 else bob, bob.user_id if i % 2 else alice.user_id) for i in range(10))
    )
    assert len({c.id for c in opened}) == 1
    assert await world.store.collection("direct_conversations").count({}) == 1


async def test_self_unknown_banned_and_disabled_recipients_are_refused(world: DirectWorld) -> None:
    alice = await make_user(world.store)
    banned = await make_user(world.store, is_banned=True)
    disabled = await make_user(world.store, is_active=False)
    cases = [(alice.user_id, errors.DM_SELF), ("0" * 24, errors.NOT_FOUND)]
    cases += [(banned.user_id, errors.DM_RECIPIENT_UNAVAILABLE), (disabled.user_id, errors.DM_RECIPIENT_UNAVAILABLE)]
    for target, code in cases:
        with pytest.raises(AppError) as info:
            await world.direct.open(alice, target)
        assert info.value.error is code
        with pytest.raises(AppError) as info:
            await world.direct.send(alice, send(target))
        assert info.value.error is code
    assert await world.store.collection("direct_conversations").count({}) == 0
    assert await world.store.collection("direct_messages").count({}) == 0


async def test_send_notifies_both_members_and_keeps_last_message_at(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    message, created = await world.direct.send(alice, send(bob.user_id, "hello bob"))
    assert created and message.seq == 1 and message.sender_id == alice.user_id
    assert message.recipient_id == bob.user_id and not message.is_read
    room = f"dm:{message.conversation_id}"
    [event] = world.hub.events("dm:message", room)
    assert event["message"]["content"] == "hello bob" and event["seq"] == 1
    assert event["conversationId"] == message.conversation_id
    # Both members' sockets were moved into the new conversation's room before the first event.
    assert sorted(world.hub.moves) == sorted([("join", alice.user_id, room), ("join", bob.user_id, room)])
    # Each member's own view (badge, preview) went to their user room: bob has one unread, alice none.
    bob_view = world.hub.events("dm:conversation", f"user:{bob.user_id}")[-1]["conversation"]
    alice_view = world.hub.events("dm:conversation", f"user:{alice.user_id}")[-1]["conversation"]
    assert (bob_view["unread"], alice_view["unread"]) == (1, 0)
    assert bob_view["otherUser"]["id"] == alice.user_id and bob_view["lastMessage"]["content"] == "hello bob"
    second, _ = await world.direct.send(bob, send(content="hi alice", cid="x", conversationId=message.conversation_id))
    assert second.seq == 2
    convo = await world.direct.get(alice, message.conversation_id)
    assert convo.last_message_at == second.created_at and convo.last_message_seq == 2
    assert convo.unread == 1  # bob's reply


async def test_client_msg_id_replays_store_one_message(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    results = await asyncio.gather(*(world.direct.send(alice, send(bob.user_id, "once", "same")) for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert len({m.id for m, _ in results}) == 1
    assert await world.store.collection("direct_messages").count({}) == 1
    assert len(world.hub.events("dm:message", f"dm:{results[0][0].conversation_id}")) == 1
    # The same clientMsgId from the other member is a different message.
    convo_id = results[0][0].conversation_id
    other, created = await world.direct.send(bob, send(content="mine", cid="same", conversationId=convo_id))
    assert created and other.seq == 2


async def test_seq_is_gap_free_under_concurrent_senders(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    convo = await world.direct.open(alice, bob.user_id)
    sends = [
        world.direct.send(who, send(content=f"m{i}", cid=f"c{i}", conversationId=convo.id))
        for i, who in enumerate([alice, bob] * 10)
    ]
    await asyncio.gather(*sends)
    history = await world.direct.history(alice, DirectHistory.model_validate({"conversationId": convo.id}))
    assert [m.seq for m in history] == list(range(1, 21))


async def test_outsiders_see_nothing(world: DirectWorld) -> None:
    alice, bob, eve = [await make_user(world.store) for _ in range(3)]
    message, _ = await world.direct.send(alice, send(bob.user_id, "private"))
    cid = message.conversation_id
    calls = [
        world.direct.get(eve, cid),
        world.direct.history(eve, DirectHistory.model_validate({"conversationId": cid})),
        world.direct.send(eve, send(content="intrude", conversationId=cid)),
        world.direct.mark_read(eve, DirectMarkRead.model_validate({"conversationId": cid})),
        world.direct.edit(eve, DirectEdit.model_validate({"messageId": message.id, "content": "x", "version": 1})),
        world.direct.delete(eve, message.id),
    ]
    for call in calls:
        with pytest.raises(AppError) as info:
            await call
        assert info.value.error is errors.NOT_FOUND
    assert await world.direct.list_conversations(eve, DirectList()) == []
    assert not await world.direct.can_read_message(eve.user_id, message.id)
    assert await world.direct.can_read_message(bob.user_id, message.id)


async def test_edit_needs_sender_and_current_version(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    message, _ = await world.direct.send(alice, send(bob.user_id, "draft"))
    edit = DirectEdit.model_validate({"messageId": message.id, "content": "final", "version": 1})
    with pytest.raises(AppError) as info:
        await world.direct.edit(bob, edit)
    assert info.value.error is errors.FORBIDDEN
    edited = await world.direct.edit(alice, edit)
    assert edited.content == "final" and edited.is_edited and edited.version == 2 and edited.edited_at
    with pytest.raises(AppError) as info:
        await world.direct.edit(alice, edit)  # version 1 is stale now
    assert info.value.error is errors.VERSION_CONFLICT
    assert info.value.details == {"currentVersion": 2}
    assert world.hub.events("dm:message:updated", f"dm:{message.conversation_id}")[0]["message"]["content"] == "final"


async def test_delete_is_a_tombstone_for_both(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    message, _ = await world.direct.send(alice, send(bob.user_id, "oops"))
    with pytest.raises(AppError) as info:
        await world.direct.delete(bob, message.id)
    assert info.value.error is errors.FORBIDDEN
    deleted = await world.direct.delete(alice, message.id)
    assert deleted.is_deleted and deleted.content == "" and deleted.deleted_at
    with pytest.raises(AppError) as info:
        await world.direct.delete(alice, message.id)
    assert info.value.error is errors.MESSAGE_DELETED
    [history] = await world.direct.history(
        bob, DirectHistory.model_validate({"conversationId": message.conversation_id})
    )
    assert history.is_deleted and history.content == ""
    assert world.hub.events("dm:message:deleted", f"dm:{message.conversation_id}")


async def test_mark_read_sets_is_read_read_at_and_unread_counts(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    sent = [(await world.direct.send(alice, send(bob.user_id, f"m{i}", f"c{i}")))[0] for i in range(3)]
    cid = sent[0].conversation_id
    assert (await world.direct.get(bob, cid)).unread == 3
    assert (await world.direct.get(alice, cid)).unread == 0
    view = await world.direct.mark_read(
        bob, DirectMarkRead.model_validate({"conversationId": cid, "messageId": sent[1].id})
    )
    assert view.unread == 1 and view.last_read_seq == 2
    history = await world.direct.history(alice, DirectHistory.model_validate({"conversationId": cid}))
    assert [m.is_read for m in history] == [True, True, False]
    assert history[0].read_at is not None and history[2].read_at is None
    [receipt] = world.hub.events("dm:read", f"dm:{cid}")
    # bob's other devices learn his badge went down.
    assert world.hub.events("dm:conversation", f"user:{bob.user_id}")[-1]["conversation"]["unread"] == 1
    assert receipt["readerId"] == bob.user_id and receipt["upToSeq"] == 2
    assert (await world.direct.get(alice, cid)).other_last_read_seq == 2
    # Alice "reading" her own messages changes nothing and sends no receipt.
    await world.direct.mark_read(alice, DirectMarkRead.model_validate({"conversationId": cid}))
    assert (await world.direct.history(alice, DirectHistory.model_validate({"conversationId": cid})))[
        2
    ].is_read is False
    assert len(world.hub.events("dm:read")) == 1  # one receipt, none for alice's no-op
    await world.direct.mark_read(bob, DirectMarkRead.model_validate({"conversationId": cid}))
    assert (await world.direct.get(bob, cid)).unread == 0


async def test_list_orders_by_last_message_with_unread_counts(world: DirectWorld) -> None:
    me = await make_user(world.store)
    friends = [await make_user(world.store) for _ in range(3)]
    for i, friend in enumerate(friends):
        await world.direct.send(friend, send(me.user_id, f"from {i}", f"c{i}"))
        await asyncio.sleep(0.005)  # distinct milliseconds
    await world.direct.send(friends[0], send(me.user_id, "again", "c9"))
    listed = await world.direct.list_conversations(me, DirectList())
    assert [c.other_user.id for c in listed] == [friends[0].user_id, friends[2].user_id, friends[1].user_id]
    assert [c.unread for c in listed] == [2, 1, 1]
    previews = [c.last_message.content if c.last_message else None for c in listed]
    assert previews == ["again", "from 2", "from 1"]
    empty = await world.direct.open(me, (await make_user(world.store)).user_id)
    assert empty.last_message is None
    page = await world.direct.list_conversations(me, DirectList.model_validate({"limit": 1}))
    assert len(page) == 1
    rest = await world.direct.list_conversations(
        me, DirectList.model_validate({"limit": 5, "before": page[0].last_message_at})
    )
    assert [c.id for c in rest] == [c.id for c in listed[1:]]


async def test_direct_messages_carry_attachments_readable_by_both_members(world: DirectWorld) -> None:
    alice, bob, eve = [await make_user(world.store) for _ in range(3)]
    upload = await world.attachments.upload(alice, "pic.png", png_bytes(64, 64))
    message, _ = await world.direct.send(alice, send(bob.user_id, "", attachmentIds=[upload.id], type="IMAGE"))
    assert [a["id"] for a in message.attachments] == [upload.id]
    assert message.attachments[0]["directMessageId"] == message.id
    assert (await world.attachments.get(bob, upload.id)).conversation_kind == "direct"
    with pytest.raises(AppError):
        await world.attachments.get(eve, upload.id)
    # A second message cannot reuse it; that message is tombstoned, nothing half-sent stays visible.
    with pytest.raises(AppError) as info:
        await world.direct.send(alice, send(bob.user_id, "again", "c2", attachmentIds=[upload.id]))
    assert info.value.error is errors.ATTACHMENT_ALREADY_ATTACHED
    # Deleting the message erases its files too (record and bytes).
    await world.direct.delete(alice, message.id)
    with pytest.raises(AppError):
        await world.attachments.get(bob, upload.id)
    assert await world.attachments.repo.get(upload.id) is None
    assert not await world.attachments.files.exists(f"attachments/{upload.id[-2:]}/{upload.id}")


async def test_bad_content_is_refused_and_nothing_stored(world: DirectWorld) -> None:
    alice, bob = await make_user(world.store), await make_user(world.store)
    for content in ("", "   ", "x" * 101):
        with pytest.raises(AppError) as info:
            await world.direct.send(alice, send(bob.user_id, content))
        assert info.value.error in (errors.VALIDATION_FAILED, errors.PAYLOAD_TOO_LARGE)
    with pytest.raises(AppError):
        await world.direct.send(alice, send(bob.user_id, "sys", type="SYSTEM"))
    assert await world.store.collection("direct_messages").count({}) == 0
    assert await world.store.collection("direct_conversations").count({}) == 0  # no empty conversation either
    bad_payloads: list[dict[str, object]] = [
        {"userId": {"$ne": None}, "content": "x", "clientMsgId": "a"},
        {"userId": bob.user_id, "content": {"$ne": None}, "clientMsgId": "a"},
        {"userId": bob.user_id, "content": "x", "clientMsgId": {"$ne": None}},
        {"userId": bob.user_id, "conversationId": "0" * 24, "content": "x", "clientMsgId": "a"},
        {"content": "x", "clientMsgId": "a"},
        {"userId": bob.user_id, "content": "nul\x00", "clientMsgId": "a"},
        {"userId": bob.user_id, "content": "rtl\u202e", "clientMsgId": "a"},
        {"userId": bob.user_id, "content": "x", "clientMsgId": "a", "senderId": alice.user_id},
        {"userId": bob.user_id, "content": 5, "clientMsgId": "a"},
    ]
    for payload in bad_payloads:
        with pytest.raises(ValidationError):
            DirectSend.model_validate(payload)
    with pytest.raises(ValidationError):
        DirectPost.model_validate({"content": "x", "attachmentIds": [{"$ne": None}]})


async def test_sends_are_rate_limited(world: DirectWorld) -> None:
    from connectnow.realtime.ratelimit import RateRule, RateRules

    alice, bob = await make_user(world.store), await make_user(world.store)
    tight = RateRule("send", 2, 0.01)
    world.limiter.rules = RateRules(send=tight, react=tight, typing=tight, upload=tight)
    await world.direct.send(alice, send(bob.user_id, "1", "a"))
    await world.direct.send(alice, send(bob.user_id, "2", "b"))
    with pytest.raises(AppError) as info:
        await world.direct.send(alice, send(bob.user_id, "3", "c"))
    assert info.value.error is errors.RATE_LIMITED and info.value.retry_after
    assert await world.store.collection("direct_messages").count({}) == 2
    # A resend after a lost ack is answered with the original, even while limited.
    replay, created = await world.direct.send(alice, send(bob.user_id, "2", "b"))
    assert not created and replay.content == "2"


async def test_replays_with_tokens_left_give_their_token_back(world: DirectWorld) -> None:
    """A replay found by the append's step (the send path skips its own look-up) costs no token."""
    from connectnow.realtime.ratelimit import RateRule, RateRules

    alice, bob = await make_user(world.store), await make_user(world.store)
    tight = RateRule("send", 3, 0.0001)
    world.limiter.rules = RateRules(send=tight, react=tight, typing=tight, upload=tight)
    first, _ = await world.direct.send(alice, send(bob.user_id, "1", "a"))
    for _ in range(5):
        replay, created = await world.direct.send(alice, send(bob.user_id, "1", "a"))
        assert not created and replay.id == first.id
    await world.direct.send(alice, send(bob.user_id, "2", "b"))
    await world.direct.send(alice, send(bob.user_id, "3", "c"))
    with pytest.raises(AppError) as info:
        await world.direct.send(alice, send(bob.user_id, "4", "d"))
    assert info.value.error is errors.RATE_LIMITED
    assert await world.store.collection("direct_messages").count({}) == 3


async def test_list_pages_never_skip_conversations_with_equal_times(world: DirectWorld) -> None:
    me = await make_user(world.store)
    friends = [await make_user(world.store) for _ in range(4)]
    for i, friend in enumerate(friends):
        await world.direct.send(friend, send(me.user_id, f"hi {i}", f"t{i}"))
    same_time = (await world.direct.list_conversations(me, DirectList()))[0].last_message_at
    await world.store.collection("direct_conversations").update_many({}, {"$set": {"lastMessageAt": same_time}})
    seen: list[str] = []
    cursor: dict[str, object] = {"limit": 1}
    while page := await world.direct.list_conversations(me, DirectList.model_validate(cursor)):
        seen += [c.id for c in page]
        cursor = {"limit": 1, "before": page[-1].last_message_at, "beforeId": page[-1].id}
    assert len(seen) == 4 and len(set(seen)) == 4
    assert seen == sorted(seen, reverse=True)  # ties broken by id, newest first
    listed = await world.direct.list_conversations(me, DirectList())
    assert [c.mentions for c in listed] == [c.unread for c in listed] == [1, 1, 1, 1]
