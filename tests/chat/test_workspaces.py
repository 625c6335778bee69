"""Workspaces, invites, members, roles, kicks, bans and ownership, on both adapters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import ValidationError

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.channel_deletion import ChannelDeletionService
from models.workspaces import BanCreate, InviteCreate, MemberRole, MemberUpdate, WorkspaceCreate, WorkspaceUpdate
from tests.chat.conftest import Chat


def ws_in(name: str, public: bool = False) -> WorkspaceCreate:
    return WorkspaceCreate.model_validate({"name": name, "isPublic": public})


async def refused(code: errors.ErrorCode, coro: object) -> AppError:
    with pytest.raises(AppError) as info:
        await coro  # type: ignore[misc]
    assert info.value.error is code, info.value
    return info.value


async def test_create_gives_unique_slugs_owner_and_general(chat: Chat) -> None:
    alice = await chat.user("alice")
    first = await chat.svc.workspaces.create(alice, ws_in("Acme Corp!"))
    second = await chat.svc.workspaces.create(alice, ws_in("acme   corp"))
    third = await chat.svc.workspaces.create(alice, ws_in("Ünïcode ßpace"))
    assert (first.slug, second.slug) == ("acme-corp", "acme-corp-2")
    assert third.slug == "unicode-pace"
    assert first.my_role is MemberRole.OWNER and first.owner_id == alice.user_id
    channels = await chat.svc.channels.visible(alice, first.id)
    assert [c.name for c in channels] == ["general"] and channels[0].is_default and channels[0].is_member
    assert ("join", alice.user_id, f"workspace:{first.id}") in chat.hub.moves


async def test_concurrent_creates_with_one_name_get_distinct_slugs(chat: Chat) -> None:
    alice = await chat.user("alice")
    made = await asyncio.gather(*(chat.svc.workspaces.create(alice, ws_in("Team")) for _ in range(5)))
    assert sorted(w.slug for w in made) == ["team", "team-2", "team-3", "team-4", "team-5"]


async def test_invites_digest_only_expiry_max_uses_rotation(chat: Chat) -> None:
    alice, bob, carol, dave = [await chat.user(n) for n in ("alice", "bob", "carol", "dave")]
    ws = await chat.svc.workspaces.create(alice, ws_in("Private"))
    invite = await chat.svc.workspaces.create_invite(
        alice, InviteCreate.model_validate({"workspaceId": ws.id, "maxUses": 1})
    )
    dump = await chat.store.dump()
    assert invite.code not in str(dump["workspace_invites"])  # only the digest is stored
    joined = await chat.svc.workspaces.join_by_code(bob, invite.code)
    assert joined.my_role is MemberRole.MEMBER
    await refused(errors.INVITE_INVALID, chat.svc.workspaces.join_by_code(carol, invite.code))  # used up
    await refused(errors.ALREADY_MEMBER, chat.svc.workspaces.join_by_code(bob, invite.code))
    await refused(errors.INVITE_INVALID, chat.svc.workspaces.join_by_code(carol, "nonexistent-code-123"))
    rotated = await chat.svc.workspaces.rotate_invites(alice, InviteCreate.model_validate({"workspaceId": ws.id}))
    old = await chat.svc.workspaces.create_invite(alice, InviteCreate.model_validate({"workspaceId": ws.id}))
    await chat.svc.workspaces.rotate_invites(alice, InviteCreate.model_validate({"workspaceId": ws.id}))
    await refused(errors.INVITE_INVALID, chat.svc.workspaces.join_by_code(carol, old.code))
    await refused(errors.INVITE_INVALID, chat.svc.workspaces.join_by_code(carol, rotated.code))
    # An expired code is refused.
    expiring = await chat.svc.workspaces.create_invite(
        alice, InviteCreate.model_validate({"workspaceId": ws.id, "expiresInSeconds": 60})
    )
    await chat.store.collection("workspace_invites").update_many(
        {"workspaceId": ws.id, "revokedAt": None}, {"$set": {"expiresAt": expiring.created_at - timedelta(seconds=1)}}
    )
    await refused(errors.INVITE_INVALID, chat.svc.workspaces.join_by_code(dave, expiring.code))
    # Members may not manage invites; private workspaces cannot be joined directly.
    await refused(
        errors.ROLE_TOO_LOW, chat.svc.workspaces.create_invite(bob, InviteCreate.model_validate({"workspaceId": ws.id}))
    )
    await refused(errors.NOT_FOUND, chat.svc.workspaces.join_public(carol, ws.id))


async def test_concurrent_joins_respect_max_uses(chat: Chat) -> None:
    alice = await chat.user("alice")
    ws = await chat.svc.workspaces.create(alice, ws_in("Limited"))
    invite = await chat.svc.workspaces.create_invite(
        alice, InviteCreate.model_validate({"workspaceId": ws.id, "maxUses": 3})
    )
    joiners = [await chat.user(f"j{i}") for i in range(8)]
    results = await asyncio.gather(
        *(chat.svc.workspaces.join_by_code(j, invite.code) for j in joiners), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(
        isinstance(r, AppError) and r.error is errors.INVITE_INVALID for r in results if isinstance(r, Exception)
    )
    assert len(await chat.svc.workspaces.members(alice, ws.id)) == 4


async def test_public_join_leave_and_owner_rules(chat: Chat) -> None:
    alice, bob = await chat.user("alice"), await chat.user("bob")
    ws = await chat.svc.workspaces.create(alice, ws_in("Open", public=True))
    await chat.svc.workspaces.join_public(bob, ws.id)
    general = (await chat.svc.channels.visible(bob, ws.id))[0]
    assert general.is_member  # joined the default channel
    history = await chat.svc.messages.history(bob, _history(general.id))
    assert [m.system_event for m in history] == ["member.joined"]
    await refused(errors.OWNER_CANNOT_LEAVE, chat.svc.workspaces.leave(alice, ws.id))
    await chat.svc.workspaces.leave(bob, ws.id)
    await refused(errors.NOT_A_MEMBER, chat.svc.workspaces.get(bob, ws.id))
    assert ("leave", bob.user_id, f"channel:{general.id}") in chat.hub.moves


def _history(channel_id: str):  # type: ignore[no-untyped-def]
    from models.messages import HistoryQuery

    return HistoryQuery.model_validate({"channelId": channel_id})


async def test_roles_kick_ban_and_transfer(chat: Chat) -> None:
    owner, admin, mod, member, guest = [await chat.user(n) for n in ("owner", "admin", "mod", "member", "guest")]
    ws = await chat.svc.workspaces.create(owner, ws_in("Roles", public=True))
    for p in (admin, mod, member, guest):
        await chat.svc.workspaces.join_public(p, ws.id)

    async def set_role(actor: object, target: object, role: str) -> None:
        data = MemberUpdate.model_validate({"workspaceId": ws.id, "userId": target.user_id, "role": role})  # type: ignore[attr-defined]
        await chat.svc.workspaces.update_member(actor, data)

    await set_role(owner, admin, "ADMIN")
    await set_role(admin, mod, "MODERATOR")
    await set_role(admin, guest, "GUEST")
    await refused(errors.ROLE_TOO_LOW, set_role(admin, mod, "ADMIN"))  # cannot grant its own rank
    await refused(errors.ROLE_TOO_LOW, set_role(admin, owner, "MEMBER"))
    await refused(errors.ROLE_TOO_LOW, set_role(mod, member, "GUEST"))
    await refused(errors.ROLE_TOO_LOW, set_role(owner, member, "OWNER"))  # only transfer makes owners
    await refused(errors.ROLE_TOO_LOW, chat.svc.workspaces.kick(mod, ws.id, admin.user_id))
    await refused(errors.ROLE_TOO_LOW, chat.svc.workspaces.kick(member, ws.id, guest.user_id))
    await chat.svc.workspaces.kick(mod, ws.id, guest.user_id)
    assert chat.hub.events("workspace:removed", f"user:{guest.user_id}")
    # A banned member cannot rejoin, by code or directly.
    await chat.svc.workspaces.ban(admin, BanCreate.model_validate({"workspaceId": ws.id, "userId": member.user_id}))
    await refused(errors.MEMBER_BANNED, chat.svc.workspaces.join_public(member, ws.id))
    invite = await chat.svc.workspaces.create_invite(admin, InviteCreate.model_validate({"workspaceId": ws.id}))
    await refused(errors.MEMBER_BANNED, chat.svc.workspaces.join_by_code(member, invite.code))
    await refused(errors.MEMBER_BANNED, chat.svc.workspaces.get(member, ws.id))
    assert await chat.svc.chat.rooms_for(member.user_id) == []
    await chat.svc.workspaces.unban(admin, ws.id, member.user_id)
    await chat.svc.workspaces.join_by_code(member, invite.code)
    # Nickname: your own freely, someone else's only over them.
    me = await chat.svc.workspaces.update_member(
        member, MemberUpdate.model_validate({"workspaceId": ws.id, "userId": member.user_id, "nickname": "Mo"})
    )
    assert me.nickname == "Mo"
    # Transfer: the new owner is OWNER, the old one ADMIN; only the owner may transfer or delete.
    await refused(errors.ROLE_TOO_LOW, chat.svc.workspaces.transfer(admin, ws.id, admin.user_id))
    after = await chat.svc.workspaces.transfer(owner, ws.id, admin.user_id)
    assert after.owner_id == admin.user_id
    roles = {m.user_id: m.role for m in await chat.svc.workspaces.members(owner, ws.id)}
    assert roles[admin.user_id] is MemberRole.OWNER and roles[owner.user_id] is MemberRole.ADMIN
    await refused(errors.ROLE_TOO_LOW, chat.svc.workspaces.delete(owner, ws.id))
    await chat.svc.workspaces.delete(admin, ws.id)
    # Access ends at once; the channels and their messages go in the workspace-deletion job.
    assert await chat.count("workspaces") == 0 and await chat.count("workspace_members") == 0
    assert await chat.count("channel_members") == 0
    await refused(errors.NOT_FOUND, chat.svc.workspaces.get(admin, ws.id))
    deletion = ChannelDeletionService(chat.store, chat.svc.channels, None, poll_seconds=60)
    assert await deletion.workspace_worker.run_once() == 1 and deletion.workspace_worker.failures == 0
    assert await chat.count("channels") == 0 and await chat.count("messages") == 0
    assert await chat.count("conversation_counters") == 0


async def test_update_and_bad_input(chat: Chat) -> None:
    alice, eve = await chat.user("alice"), await chat.user("eve")
    ws = await chat.svc.workspaces.create(alice, ws_in("Acme"))
    updated = await chat.svc.workspaces.update(
        alice, WorkspaceUpdate.model_validate({"workspaceId": ws.id, "description": "Our place", "isPublic": True})
    )
    assert updated.is_public and updated.description == "Our place"
    await refused(
        errors.NOT_A_MEMBER,
        chat.svc.workspaces.update(eve, WorkspaceUpdate.model_validate({"workspaceId": ws.id, "name": "x"})),
    )
    bad = [
        {"name": {"$ne": None}},
        {"name": ""},
        {"name": "a\x00b"},
        {"name": "evil\u202etxt"},
        {"name": "\ud800"},
        {"name": "x" * 81},
        {"name": "ok", "isPublic": "yes"},
        {"name": "ok", "ownerId": alice.user_id},
        {"name": 5},
    ]
    for body in bad:
        with pytest.raises(ValidationError):
            WorkspaceCreate.model_validate(body)
    with pytest.raises(ValidationError):
        WorkspaceUpdate.model_validate({"workspaceId": {"$ne": None}})
    assert await chat.count("workspaces") == 1
