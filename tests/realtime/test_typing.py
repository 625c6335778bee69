"""Typing indicators: throttling, expiry, authorization, and who receives them (both adapters)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from connectnow import errors
from connectnow.errors import AppError
from connectnow.identity import Principal
from connectnow.realtime.ratelimit import RateRule, RateRules
from connectnow.services.typing_indicators import TypingService, direct_gate
from models.direct import TypingIn
from tests.attachments.helpers import make_user
from tests.direct.world import DirectWorld, world
from tests.support.clock import stopped_loop_clock

EXPIRY_SECS = 0.3
__all__ = ["world"]  # the fixture, imported for this module


@dataclass
class Typing:
    world: DirectWorld
    service: TypingService
    channel_rooms: dict[str, str]


@pytest.fixture
async def typing(world: DirectWorld) -> AsyncIterator[Typing]:
    allowed: dict[str, str] = {}

    async def channel_gate(principal: Principal, channel_id: str) -> str:
        # Channel rules belong to the chat core (tested there and end to end); here: a fixed member list.
        if allowed.get(channel_id) != principal.user_id:
            raise AppError(errors.NOT_FOUND, "No such channel")
        return f"channel:{channel_id}"

    service = TypingService(
        world.hub, world.limiter, channel_gate, direct_gate(world.direct.conversations), expiry_secs=EXPIRY_SECS
    )
    try:
        yield Typing(world, service, allowed)
    finally:
        await service.stop()


def dm(conversation_id: str) -> TypingIn:
    return TypingIn.model_validate({"conversationId": conversation_id})


async def test_direct_typing_goes_to_the_other_member_only(typing: Typing) -> None:
    world = typing.world
    alice, bob = await make_user(world.store), await make_user(world.store)
    convo = await world.direct.open(alice, bob.user_id)
    assert await typing.service.start_typing(alice, dm(convo.id)) == {"expiresIn": EXPIRY_SECS}
    [started] = world.hub.events("typing:started")
    assert started == {
        "conversationId": convo.id,
        "userId": alice.user_id,
        "username": alice.user.username,
        "expiresIn": EXPIRY_SECS,
    }
    # To the conversation's room without any socket of the typist: only bob's sockets remain.
    assert [(r, skip) for e, r, _, skip in world.hub.sent if e == "typing:started"] == [
        (f"dm:{convo.id}", alice.user_id)
    ]
    assert await typing.service.stop_typing(alice, dm(convo.id)) == {"stopped": True}
    [stopped] = world.hub.events("typing:stopped", f"dm:{convo.id}")
    assert stopped["reason"] == "stopped"
    assert await typing.service.stop_typing(alice, dm(convo.id)) == {"stopped": False}
    assert len(world.hub.events("typing:stopped")) == 1


async def test_repeated_starts_are_throttled_and_expiry_is_automatic(typing: Typing) -> None:
    world = typing.world
    alice, bob = await make_user(world.store), await make_user(world.store)
    convo = await world.direct.open(alice, bob.user_id)
    # The loop's clock moves only when told: a loaded machine cannot stretch a sleep past the expiry.
    with stopped_loop_clock() as clock:
        for _ in range(5):
            await typing.service.start_typing(alice, dm(convo.id))
        assert len(world.hub.events("typing:started")) == 1
        await clock.advance(EXPIRY_SECS * 0.6)  # past half the expiry: the next start re-announces
        await typing.service.start_typing(alice, dm(convo.id))
        assert len(world.hub.events("typing:started")) == 2
        await clock.advance(EXPIRY_SECS * 0.9)  # extended: not expired yet
        assert world.hub.events("typing:stopped") == []
        await clock.advance(EXPIRY_SECS * 0.2)
        [stopped] = world.hub.events("typing:stopped", f"dm:{convo.id}")
        assert stopped["reason"] == "expired" and stopped["userId"] == alice.user_id
        assert typing.service.live_count() == 0


async def test_senders_sockets_are_skipped_in_channels(typing: Typing) -> None:
    world = typing.world
    alice = await make_user(world.store)
    typing.channel_rooms["c" * 24] = alice.user_id
    await typing.service.start_typing(alice, TypingIn.model_validate({"channelId": "c" * 24}))
    [(event, room, data, skip_user)] = world.hub.sent
    assert (event, room, skip_user) == ("typing:started", f"channel:{'c' * 24}", alice.user_id)
    assert data["channelId"] == "c" * 24


async def test_outsiders_cannot_type_and_nothing_is_sent(typing: Typing) -> None:
    world = typing.world
    alice, bob, eve = [await make_user(world.store) for _ in range(3)]
    convo = await world.direct.open(alice, bob.user_id)
    for target in (dm(convo.id), dm("0" * 24), TypingIn.model_validate({"channelId": "d" * 24})):
        for call in (typing.service.start_typing, typing.service.stop_typing):
            with pytest.raises(AppError) as info:
                await call(eve, target)
            assert info.value.error is errors.NOT_FOUND
    assert [e for e, _, _, _ in world.hub.sent if e.startswith("typing:")] == []


async def test_typing_is_rate_limited(typing: Typing) -> None:
    world = typing.world
    tight = RateRule("typing", 2, 0.01)
    world.limiter.rules = RateRules(send=tight, react=tight, typing=tight, upload=tight)
    alice = await make_user(world.store)
    friends = [await make_user(world.store) for _ in range(3)]
    convos = [await world.direct.open(alice, f.user_id) for f in friends]
    await typing.service.start_typing(alice, dm(convos[0].id))
    await typing.service.start_typing(alice, dm(convos[1].id))
    with pytest.raises(AppError) as info:
        await typing.service.start_typing(alice, dm(convos[2].id))
    assert info.value.error is errors.RATE_LIMITED
    # Throttled refreshes of a live indicator cost nothing.
    await typing.service.start_typing(alice, dm(convos[0].id))


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"channelId": "a" * 24, "conversationId": "b" * 24},
        {"channelId": {"$ne": None}},
        {"conversationId": 12},
        {"conversationId": "b" * 24, "userId": "x"},
    ],
)
def test_bad_typing_payloads(payload: dict[str, object]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        TypingIn.model_validate(payload)


async def test_sending_a_direct_message_ends_the_senders_indicator(typing: Typing) -> None:
    from models.direct import DirectSend

    world = typing.world
    indicators = world.svc.typing  # the service the builder gave DirectService: a send ends the indicator
    try:
        alice, bob = await make_user(world.store), await make_user(world.store)
        convo = await world.direct.open(alice, bob.user_id)
        await indicators.start_typing(bob, dm(convo.id))  # bob's indicator is not touched by alice's send
        await indicators.start_typing(alice, dm(convo.id))
        send = DirectSend.model_validate({"conversationId": convo.id, "content": "done", "clientMsgId": "s1"})
        await world.direct.send(alice, send)
        [stopped] = world.hub.events("typing:stopped")
        assert stopped["userId"] == alice.user_id and stopped["reason"] == "sent"
        assert indicators.live_count() == 1
        await world.direct.send(alice, send)  # a replay sends nothing again
        assert len(world.hub.events("typing:stopped")) == 1
    finally:
        await indicators.stop()  # its expiry tasks
