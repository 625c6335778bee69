"""Crash safety of the message pipeline (issue 11) with real servers: two workers on one SQLite file and one
real Redis, and rounds of `kill -9` of one worker while concurrent sends, edits, reactions and direct
messages are in flight on both.

Afterwards: every acknowledged change is stored exactly once and visible in history and sync; no message
lacks a seq; every unacknowledged clientMsgId can be resent and ends stored exactly once; seq is 1..N and
eventSeq is contiguous (the counter equals the number of stored changes: nothing burned, nothing shared).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import bearer, register, unique_name
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

ROUNDS = 2  # each round restarts a worker: on a loaded 2-core machine that is the test's main cost
SENDS_PER_ROUND = 84  # channel messages per round, half on each worker
DMS_PER_ROUND = 16  # (200 sends in all)
EDITS_PER_ROUND = 12
REACTIONS_PER_ROUND = 16
RESEND_CONCURRENCY = 16
KILL_AFTER_SECS = (0.05, 0.35)  # the victim dies at a random moment in this window
REQUEST_TIMEOUT_SECS = 20.0
GENEROUS_LIMITS = {
    "rate_send_burst": "100000",
    "rate_send_per_second": "10000",
    "rate_react_burst": "100000",
    "rate_react_per_second": "10000",
}


@dataclass
class Cluster:
    tmp: Path
    redis: RedisServer
    shared: dict[str, str]
    survivor: LiveServer
    victim: LiveServer

    @property
    def db_path(self) -> Path:
        return self.tmp / "shared.db"

    def restart_victim(self) -> None:
        self.victim = LiveServer.start(self.tmp / "victim", **self.shared)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    redis = RedisServer.start()
    shared = {"redis_url": redis.url, "database_url": f"sqlite:///{tmp_path / 'shared.db'}", **GENEROUS_LIMITS}
    started: list[LiveServer] = []
    try:
        started.append(LiveServer.start(tmp_path / "survivor", **shared))
        started.append(LiveServer.start(tmp_path / "victim", **shared))
        made = Cluster(tmp_path, redis, shared, started[0], started[1])
        yield made
        started.append(made.victim)
    finally:
        for server in started:
            server.stop()
        redis.stop()


@dataclass
class Ledger:
    """What the clients were told: acknowledged changes, and the clientMsgIds left without an answer."""

    acked: dict[str, dict[str, Any]] = field(default_factory=dict)  # clientMsgId -> message
    unacked: dict[str, tuple[str, str]] = field(default_factory=dict)  # clientMsgId -> (user token, path)
    acked_edits: dict[str, tuple[int, str]] = field(default_factory=dict)  # message id -> (version, content)
    acked_reactions: set[tuple[str, str]] = field(default_factory=set)  # (message id, emoji)
    unacked_reactions: set[tuple[str, str]] = field(default_factory=set)


async def request(base_url: str, method: str, path: str, token: str, body: Any) -> httpx.Response | None:
    """One request on its own connection; None when the worker died before answering."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECS) as http:
            return await http.request(method, path, json=body, headers=bearer(token))
    except httpx.TransportError:
        return None


async def post_message(ledger: Ledger, base_url: str, token: str, path: str) -> None:
    client_msg_id = uuid.uuid4().hex
    response = await request(
        base_url, "POST", path, token, {"content": f"m {client_msg_id}", "clientMsgId": client_msg_id}
    )
    if response is None:
        ledger.unacked[client_msg_id] = (token, path)
        return
    assert response.status_code == 201, response.text
    ledger.acked[client_msg_id] = response.json()


async def edit(ledger: Ledger, base_url: str, token: str, message: dict[str, Any]) -> None:
    version, _ = ledger.acked_edits.get(message["id"], (message["version"], ""))
    content = f"edit {uuid.uuid4().hex}"
    response = await request(
        base_url, "PATCH", f"/api/v1/messages/{message['id']}", token, {"content": content, "version": version}
    )
    if response is None or response.status_code == 409:  # died, or a concurrent edit won: refused
        return
    assert response.status_code == 200, response.text
    done = response.json()
    if done["version"] > ledger.acked_edits.get(message["id"], (0, ""))[0]:
        ledger.acked_edits[message["id"]] = (done["version"], done["content"])


async def react(ledger: Ledger, base_url: str, token: str, message_id: str, emoji: str) -> None:
    response = await request(base_url, "POST", f"/api/v1/messages/{message_id}/reactions", token, {"emoji": emoji})
    if response is None:
        ledger.unacked_reactions.add((message_id, emoji))
        return
    assert response.status_code == 200, response.text
    ledger.acked_reactions.add((message_id, emoji))


async def after_a_moment(work: Any) -> None:
    await asyncio.sleep(random.uniform(0, 0.3))
    await work


def db_rows(db: Path, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT id, doc FROM {table}").fetchall()  # noqa: S608 (the test's own tables)
    return [{**json.loads(doc), "id": row_id} for row_id, doc in rows]


async def all_history(base_url: str, token: str, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECS) as http:
        while True:
            page = await http.get(
                path, params={"after": rows[-1]["seq"] if rows else 0, "limit": 100}, headers=bearer(token)
            )
            assert page.status_code == 200, page.text
            if not page.json():
                return rows
            rows.extend(page.json())


async def all_sync(base_url: str, token: str, kind: str, conversation_id: str) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = f"/api/v1/sync/{kind}/{conversation_id}?afterEventSeq=0&limit=100"
    latest = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECS) as http:
        while cursor is not None:
            page = await http.get(cursor, headers=bearer(token))
            assert page.status_code == 200, page.text
            body = page.json()
            rows.extend(body["messages"])
            latest, cursor = body["latestEventSeq"], body.get("nextCursor")
    return rows, latest


def check_conversation(rows: list[dict[str, Any]], counters: dict[str, Any], reactions: int) -> None:
    """seq is 1..N; eventSeq counts every stored change once (creates, edits, reactions)."""
    assert all("seq" in r for r in rows), [r for r in rows if "seq" not in r]
    assert sorted(r["seq"] for r in rows) == list(range(1, len(rows) + 1))
    edits = sum(r.get("version", 1) - 1 for r in rows)
    assert counters["seq"] == len(rows)
    assert counters["eventSeq"] == len(rows) + edits + reactions
    stamps = [r["lastEventSeq"] for r in rows]
    assert len(set(stamps)) == len(stamps) and max(stamps) == counters["eventSeq"]


@pytest.mark.timeout(400)  # three server starts: each takes seconds on an idle machine, far more on a loaded one
@pytest.mark.slow
async def test_kill_9_rounds_leave_every_change_once_and_numbers_contiguous(cluster: Cluster) -> None:
    base = cluster.survivor.base_url
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_SECS) as http:
        alice, bob = await register(http, unique_name("ka")), await register(http, unique_name("kb"))
        made = await http.post(
            "/api/v1/workspaces",
            json={"name": unique_name("kill"), "isPublic": True},
            headers=bearer(alice["accessToken"]),
        )
        workspace_id = made.json()["id"]
        joined = await http.post(f"/api/v1/workspaces/{workspace_id}/join", headers=bearer(bob["accessToken"]))
        assert joined.status_code == 200, joined.text
        channels = await http.get(f"/api/v1/workspaces/{workspace_id}/channels", headers=bearer(alice["accessToken"]))
        channel_id = channels.json()[0]["id"]
        opened = await http.post(
            "/api/v1/direct/conversations", json={"userId": bob["user"]["id"]}, headers=bearer(alice["accessToken"])
        )
        dm_id = opened.json()["id"]
    users = [alice["accessToken"], bob["accessToken"]]
    channel_path, dm_path = f"/api/v1/channels/{channel_id}/messages", f"/api/v1/direct/conversations/{dm_id}/messages"
    ledger = Ledger()

    for round_number in range(ROUNDS):
        if round_number:  # the worker killed last round comes back: its start-up repair runs before it is ready
            await asyncio.to_thread(cluster.restart_victim)
        servers = [cluster.survivor.base_url, cluster.victim.base_url]
        mine = [m for m in ledger.acked.values() if m.get("userId") == alice["user"]["id"]]
        work = [post_message(ledger, servers[i % 2], users[(i // 2) % 2], channel_path) for i in range(SENDS_PER_ROUND)]
        work += [post_message(ledger, servers[i % 2], users[i % 2], dm_path) for i in range(DMS_PER_ROUND)]
        edited = random.sample(mine, min(len(mine), EDITS_PER_ROUND))
        work += [edit(ledger, servers[i % 2], users[0], m) for i, m in enumerate(edited)]
        targets = [m for m in ledger.acked.values() if "channelId" in m]
        work += [
            react(ledger, servers[i % 2], users[1], m["id"], random.choice(["👍", "🎉", "✅"]))
            for i, m in enumerate(random.sample(targets, min(len(targets), REACTIONS_PER_ROUND)))
        ]
        tasks = [asyncio.create_task(after_a_moment(w)) for w in work]
        await asyncio.sleep(random.uniform(*KILL_AFTER_SECS))
        cluster.victim.stop(signal.SIGKILL)
        await asyncio.gather(*tasks)

    # Every unacknowledged message and reaction can be resent (to the surviving worker), and ends stored once.
    limit = asyncio.Semaphore(RESEND_CONCURRENCY)

    async def resend(client_msg_id: str, token: str, path: str) -> None:
        async with limit:
            body = {"content": f"m {client_msg_id}", "clientMsgId": client_msg_id}
            response = await request(base, "POST", path, token, body)
        assert response is not None and response.status_code in (200, 201), response and response.text
        ledger.acked[client_msg_id] = response.json()

    async def react_again(message_id: str, emoji: str) -> None:
        async with limit:
            path = f"/api/v1/messages/{message_id}/reactions"
            response = await request(base, "POST", path, users[1], {"emoji": emoji})
        assert response is not None and response.status_code == 200
        ledger.acked_reactions.add((message_id, emoji))

    await asyncio.gather(*(resend(c, *where) for c, where in ledger.unacked.items()))
    await asyncio.gather(*(react_again(m, e) for m, e in ledger.unacked_reactions))
    assert ledger.unacked, "no request was in flight at any kill: the test proved nothing"

    channel_rows = await all_history(base, users[0], channel_path)
    dm_rows = await all_history(base, users[0], dm_path)
    by_cmid: dict[str, int] = {}
    for row in channel_rows + dm_rows:
        by_cmid[row["clientMsgId"]] = by_cmid.get(row["clientMsgId"], 0) + 1
    assert {c: n for c, n in by_cmid.items() if n != 1} == {}
    assert set(ledger.acked) <= set(by_cmid)  # every acknowledged or resent message is there, once
    final = {r["id"]: r for r in channel_rows}
    for message_id, (version, content) in ledger.acked_edits.items():
        assert final[message_id]["version"] >= version
        if final[message_id]["version"] == version:
            assert final[message_id]["content"] == content
    for message_id, emoji in ledger.acked_reactions:
        assert emoji in {r["emoji"] for r in final[message_id]["reactions"]}

    # The database itself: no message without a seq, counters equal to the changes stored.
    messages, direct = db_rows(cluster.db_path, "messages"), db_rows(cluster.db_path, "direct_messages")
    counters = {c["id"]: c for c in db_rows(cluster.db_path, "conversation_counters")}
    reactions = [r for r in db_rows(cluster.db_path, "message_reactions") if r["channelId"] == channel_id]
    check_conversation(
        [m for m in messages if m["channelId"] == channel_id], counters[f"channel:{channel_id}"], len(reactions)
    )
    check_conversation([m for m in direct if m["conversationId"] == dm_id], counters[f"dm:{dm_id}"], 0)
    assert all(not c.get("lockOwner") for c in counters.values())

    # sync from the start hands out every message once, up to the latest eventSeq.
    synced, latest = await all_sync(base, users[0], "channel", channel_id)
    assert sorted(r["id"] for r in synced) == sorted(final)
    assert latest == counters[f"channel:{channel_id}"]["eventSeq"]
