"""The one place that says which workspace or channel role may do what (docs/ROLES.md is the same table).

`ALLOWED[action]` is the set of workspace roles allowed to attempt an action; `CHANNEL_ALLOWED[action]` the
channel roles that also grant it inside that one channel (`require_in_channel`). Actions on another member (kick, ban,
change role) also need the actor to outrank the target (`outranks`), so a moderator cannot kick an admin and
an admin cannot demote the owner. Membership itself (non-members, banned users) is checked by the services
before the policy: a non-member has no role.
"""

from __future__ import annotations

from enum import StrEnum

from connectnow import errors
from connectnow.errors import AppError
from models.channels import ChannelRole
from models.workspaces import MemberRole

OWNER, ADMIN, MODERATOR, MEMBER, GUEST = (
    MemberRole.OWNER,
    MemberRole.ADMIN,
    MemberRole.MODERATOR,
    MemberRole.MEMBER,
    MemberRole.GUEST,
)
RANK = {OWNER: 5, ADMIN: 4, MODERATOR: 3, MEMBER: 2, GUEST: 1}


class Action(StrEnum):
    WORKSPACE_UPDATE = "workspace.update"
    WORKSPACE_DELETE = "workspace.delete"
    WORKSPACE_TRANSFER = "workspace.transfer"
    INVITE_MANAGE = "invite.manage"
    MEMBER_LIST = "member.list"
    MEMBER_SET_ROLE = "member.setRole"
    MEMBER_KICK = "member.kick"
    MEMBER_BAN = "member.ban"
    CHANNEL_LIST_PUBLIC = "channel.listPublic"
    CHANNEL_CREATE = "channel.create"
    CHANNEL_CREATE_PRIVATE = "channel.createPrivate"
    CHANNEL_UPDATE = "channel.update"
    CHANNEL_ARCHIVE = "channel.archive"
    CHANNEL_DELETE = "channel.delete"
    CHANNEL_JOIN_PUBLIC = "channel.joinPublic"
    CHANNEL_MEMBER_ADD = "channel.memberAdd"
    CHANNEL_MEMBER_REMOVE = "channel.memberRemove"
    CHANNEL_MEMBER_SET_ROLE = "channel.memberSetRole"
    MESSAGE_SEND = "message.send"
    MESSAGE_REACT = "message.react"
    MESSAGE_PIN = "message.pin"
    MESSAGE_DELETE_ANY = "message.deleteAny"
    MESSAGE_MENTION_BROAD = "message.mentionBroad"
    MODERATION_READ = "moderation.read"
    REPORT_REVIEW = "report.review"


EVERYONE = frozenset(MemberRole)
STAFF = frozenset({OWNER, ADMIN, MODERATOR})
MANAGERS = frozenset({OWNER, ADMIN})
REGULAR = frozenset({OWNER, ADMIN, MODERATOR, MEMBER})

ALLOWED: dict[Action, frozenset[MemberRole]] = {
    Action.WORKSPACE_UPDATE: MANAGERS,
    Action.WORKSPACE_DELETE: frozenset({OWNER}),
    Action.WORKSPACE_TRANSFER: frozenset({OWNER}),
    Action.INVITE_MANAGE: MANAGERS,
    Action.MEMBER_LIST: EVERYONE,
    Action.MEMBER_SET_ROLE: MANAGERS,
    Action.MEMBER_KICK: STAFF,
    Action.MEMBER_BAN: MANAGERS,
    # Guests see and join only the channels they are added to.
    Action.CHANNEL_LIST_PUBLIC: REGULAR,
    Action.CHANNEL_CREATE: REGULAR,
    Action.CHANNEL_CREATE_PRIVATE: REGULAR,
    Action.CHANNEL_UPDATE: STAFF,
    Action.CHANNEL_ARCHIVE: MANAGERS,
    Action.CHANNEL_DELETE: MANAGERS,
    Action.CHANNEL_JOIN_PUBLIC: REGULAR,
    # Adding to a private channel also needs channel membership (checked by the channel service).
    Action.CHANNEL_MEMBER_ADD: REGULAR,
    Action.CHANNEL_MEMBER_REMOVE: STAFF,
    Action.CHANNEL_MEMBER_SET_ROLE: MANAGERS,
    Action.MESSAGE_SEND: EVERYONE,
    Action.MESSAGE_REACT: EVERYONE,
    Action.MESSAGE_PIN: REGULAR,
    Action.MESSAGE_DELETE_ANY: STAFF,
    # @here / @channel; a workspace setting (allowBroadMentions) opens it to everyone who may send.
    Action.MESSAGE_MENTION_BROAD: STAFF,
    # Deleted messages' original content and files (authors always see their own).
    Action.MODERATION_READ: MANAGERS,
    # See and resolve members' reports of messages (those who may delete any message).
    Action.REPORT_REVIEW: STAFF,
}

# Channel roles grant actions inside their channel only, whatever the workspace role (a GUEST made channel
# MODERATOR may delete messages there). Actions not listed here need the workspace role.
CHANNEL_MODERATORS = frozenset({ChannelRole.ADMIN, ChannelRole.MODERATOR})
CHANNEL_ALLOWED: dict[Action, frozenset[ChannelRole]] = {
    Action.CHANNEL_UPDATE: CHANNEL_MODERATORS,
    Action.CHANNEL_MEMBER_REMOVE: CHANNEL_MODERATORS,
    Action.MESSAGE_PIN: CHANNEL_MODERATORS,
    Action.MESSAGE_DELETE_ANY: CHANNEL_MODERATORS,
    Action.MESSAGE_MENTION_BROAD: CHANNEL_MODERATORS,
    Action.CHANNEL_MEMBER_SET_ROLE: frozenset({ChannelRole.ADMIN}),
}

# Roles a manager may hand out: nobody becomes OWNER except by transfer.
ASSIGNABLE = frozenset({ADMIN, MODERATOR, MEMBER, GUEST})


def allows(role: MemberRole | None, action: Action) -> bool:
    return role is not None and role in ALLOWED[action]


def require(role: MemberRole | None, action: Action) -> None:
    if role is None:
        raise AppError(errors.NOT_A_MEMBER)
    if role not in ALLOWED[action]:
        raise AppError(errors.ROLE_TOO_LOW, f"Your role {role.value} may not {action.value}")


def outranks(actor: MemberRole, target: MemberRole) -> bool:
    return RANK[actor] > RANK[target]


def require_over(actor: MemberRole | None, target: MemberRole, action: Action) -> None:
    """Act on another member: allowed action and a strictly higher rank than the target."""
    require(actor, action)
    assert actor is not None
    if not outranks(actor, target):
        raise AppError(errors.ROLE_TOO_LOW, f"A {actor.value} may not act on a {target.value}")


def allows_in_channel(role: MemberRole | None, channel_role: ChannelRole | None, action: Action) -> bool:
    granted = channel_role is not None and channel_role in CHANNEL_ALLOWED.get(action, frozenset())
    return granted or allows(role, action)


def require_in_channel(role: MemberRole | None, channel_role: ChannelRole | None, action: Action) -> None:
    """An action inside one channel: the workspace role or the caller's role in that channel grants it."""
    if channel_role is not None and channel_role in CHANNEL_ALLOWED.get(action, frozenset()):
        return
    require(role, action)
