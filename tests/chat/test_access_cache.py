"""Access checks are cached per (channel, user) and flushed by membership events from any worker."""

from __future__ import annotations

import pytest

from connectnow import errors
from connectnow.errors import AppError
from models.channels import ChannelCreate, ChannelMemberChange
from tests.chat.conftest import Chat
from tests.chat.test_messages import send_in, setup


async def test_cached_access_is_flushed_by_a_membership_event_from_another_worker(chat: Chat) -> None:
    _, bob, _, ws_id, general = await setup(chat)
    access = chat.svc.chat
    assert (await access.channel(general, bob.user_id)).channel.id == general
    # Another worker removes bob: the row goes first, its event reaches this worker a moment later.
    await access.members.delete({"workspaceId": ws_id, "userId": bob.user_id})
    assert (await access.channel(general, bob.user_id)).channel.id == general  # still the cached answer
    await chat.hub._on_broker_message({"op": "leave", "userId": bob.user_id, "room": f"channel:{general}"})
    with pytest.raises(AppError) as info:
        await access.channel(general, bob.user_id)
    assert info.value.error is errors.NOT_FOUND


async def test_changes_made_here_take_effect_at_once(chat: Chat) -> None:
    alice, bob, _, ws_id, _ = await setup(chat)
    secret = await chat.svc.channels.create(
        alice, ChannelCreate.model_validate({"workspaceId": ws_id, "name": "vault", "isPrivate": True})
    )
    change = ChannelMemberChange.model_validate({"channelId": secret.id, "userId": bob.user_id})
    await chat.svc.channels.add_member(alice, change)
    await chat.svc.messages.send(bob, send_in(secret.id, "in"))
    await chat.svc.channels.remove_member(alice, change)
    with pytest.raises(AppError) as info:
        await chat.svc.messages.send(bob, send_in(secret.id, "out"))
    assert info.value.error is errors.NOT_FOUND
    await chat.svc.channels.set_archived(alice, secret.id, True)
    with pytest.raises(AppError) as archived:
        await chat.svc.messages.send(alice, send_in(secret.id, "archived"))
    assert archived.value.error is errors.CHANNEL_ARCHIVED
