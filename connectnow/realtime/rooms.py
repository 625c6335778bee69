"""Every Socket.IO room name, built in one place. Who is in each room, and which events go to it, is in
docs/PROTOCOL.md; a room name is never written out elsewhere (a typo would silently reach nobody)."""

from __future__ import annotations

DASHBOARD_ROOM = "dashboard"  # administrators' sockets that subscribed to the live dashboard


def user_room(user_id: str) -> str:
    """Every socket of one user, on every worker (joined on connect)."""
    return f"user:{user_id}"


def workspace_room(workspace_id: str) -> str:
    """The workspace's members' sockets."""
    return f"workspace:{workspace_id}"


def channel_room(channel_id: str) -> str:
    """The sockets of the users who may read the channel now (never wider: guests see only their channels)."""
    return f"channel:{channel_id}"


def dm_room(conversation_id: str) -> str:
    """The two members' sockets of a direct conversation."""
    return f"dm:{conversation_id}"


def subscribers_room(user_id: str) -> str:
    """The sockets that subscribed to a user's presence (`presence:subscribe`)."""
    return f"presence:{user_id}"


def peer_room(channel_id: str, user_id: str) -> str:
    """One user's sockets that are in a VOICE channel's call (signalling is relayed to them only)."""
    return f"voice:{channel_id}:{user_id}"
