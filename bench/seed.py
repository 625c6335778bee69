"""Seed a ConnectNow database for a benchmark: users, their sessions, and one public workspace per room.

Runs in-process against the same data directory the server will use, through ConnectNow's own services
(workspace creation and joins enroll members in `#general`, which is the benchmark room). Registering
thousands of users over REST would hash thousands of argon2id passwords (about 50 ms each); the benchmark
users share one real hash instead and get their access tokens from the auth service's session opener.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import socketio

from bench.servers import connectnow_env
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.node import Node
from connectnow.realtime.hub import Hub
from connectnow.services.auth import ClientInfo, Principal
from models.users import UserRecord
from models.workspaces import WorkspaceCreate

BENCH_PASSWORD = "bench password not for production"  # noqa: S105 - benchmark accounts only


@dataclass
class Room:
    channel_id: str
    workspace_id: str
    tokens: list[str]  # one access token per member; the first member is the room's sender


async def _seed(sizes: list[int]) -> list[Room]:
    settings = Settings()
    sio = socketio.AsyncServer(async_mode="asgi")  # no sockets: events the seeding emits reach nobody
    node = Node(settings=settings, sio=sio, hub=Hub(sio))
    await node.start()
    try:
        auth = node.svc.auth
        assert node.secrets is not None
        password_hash = await node.secrets.hash_password(BENCH_PASSWORD)
        rooms = []
        for index, size in enumerate(sizes):
            members: list[UserRecord] = []
            tokens: list[str] = []
            for _ in range(size):
                now, uid = utcnow(), new_id()
                name = f"b{uid[-12:]}"
                user = UserRecord(
                    id=uid, email=f"{name}@bench.invalid", email_lower=f"{name}@bench.invalid", username=name,
                    username_lower=name, display_name=name, password_hash=password_hash, created_at=now,
                    updated_at=now,
                )  # fmt: skip
                user = await auth.users.insert(user)
                pair = await auth._open_session(user, ClientInfo(user_agent="bench", ip_address="127.0.0.1"))
                members.append(user)
                tokens.append(pair.access_token)
            owner = Principal(user=members[0])
            ws = await node.svc.workspaces.create(
                owner, WorkspaceCreate.model_validate({"name": f"bench {size} {index}", "isPublic": True})
            )
            for user in members[1:]:
                await node.svc.workspaces.join_public(Principal(user=user), ws.id)
            channels = await node.svc.channels.visible(owner, ws.id)
            general = next(c for c in channels if c.is_default)
            rooms.append(Room(channel_id=general.id, workspace_id=ws.id, tokens=tokens))
        return rooms
    finally:
        await node.stop()


def seed(data_dir: Path, sizes: list[int]) -> list[Room]:
    """One room (a workspace's #general) per entry of `sizes`, with that many members."""
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    os.environ.update(connectnow_env(data_dir))
    try:
        return asyncio.run(_seed(sizes))
    finally:
        os.environ.clear()
        os.environ.update(saved)
