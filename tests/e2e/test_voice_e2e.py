"""VOICE channels end to end: the live participant list and WebRTC signalling relayed to one participant,
with real python-socketio clients against real servers (one worker; then two workers sharing Redis)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import Person, SocketClient, register, unique_name
from tests.support.live_server import LiveServer, shared_server
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
live_server = shared_server("voice")  # one server for the module (overrides the per-test fixture)
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


async def _code(person: Person | SocketClient, event: str, data: Any) -> str:
    answer = await person.call(event, data)
    assert not answer["ok"], (event, answer)
    code: str = answer["error"]["code"]
    return code


def _users(data: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(p["userId"], p["isMuted"]) for p in data["participants"]]


async def test_voice_call_signalling_participants_and_refusals(
    http: httpx.AsyncClient, live_server: LiveServer
) -> None:
    ann, bob, cat, out = [Person(await register(http, unique_name(n))) for n in ("va", "vb", "vc", "vo")]
    bob_phone = SocketClient()  # bob's second device: connected, never joins the call
    for p in (ann, bob, cat, out):
        await p.connect(live_server)
    await bob_phone.connect(live_server.base_url, bob.token)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("voice"), "isPublic": True})
        for p in (bob, cat):
            await p.ok("workspace:join", {"workspaceId": ws["id"]})
        room = await ann.ok("channel:create", {"workspaceId": ws["id"], "name": "standup", "type": "VOICE"})
        vid = room["id"]
        general = (await ann.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]
        offer = {"channelId": vid, "toUserId": bob.id, "sdp": SDP}

        # Refusals before anyone is in the call.
        assert await _code(ann, "voice:join", {"channelId": general}) == "CHANNEL_NOT_VOICE"
        assert await _code(out, "voice:join", {"channelId": vid}) == "NOT_FOUND"  # not in the workspace
        assert await _code(out, "voice:participants", {"channelId": vid}) == "NOT_FOUND"
        assert await _code(ann, "voice:offer", offer) == "VOICE_NOT_IN_CALL"

        joined = await ann.ok("voice:join", {"channelId": vid})
        assert _users(joined) == [(ann.id, False)]
        assert await _code(ann, "voice:offer", offer) == "VOICE_PEER_NOT_IN_CALL"  # bob is not in the call yet
        joined = await bob.ok("voice:join", {"channelId": vid, "isMuted": True})
        assert _users(joined) == [(ann.id, False), (bob.id, True)]
        seen = await cat.sock.wait_for("voice:joined", lambda d: d["participant"]["userId"] == bob.id)
        assert seen == {"channelId": vid, "participant": joined["participants"][1]}  # readers see the list move
        await ann.sock.wait_for("voice:joined", lambda d: d["participant"]["userId"] == bob.id)
        assert _users(await cat.ok("voice:participants", {"channelId": vid})) == [(ann.id, False), (bob.id, True)]

        # Signalling: offer, answer and candidates reach only the target's sockets in the call.
        assert await ann.ok("voice:offer", offer) == {"relayed": True}
        got = await bob.sock.wait_for("voice:offer")
        assert got == {"channelId": vid, "fromUserId": ann.id, "sdp": SDP}
        await bob.ok("voice:answer", {"channelId": vid, "toUserId": ann.id, "sdp": SDP})
        assert (await ann.sock.wait_for("voice:answer"))["fromUserId"] == bob.id
        await bob.ok("voice:candidate", {"channelId": vid, "toUserId": ann.id, "candidate": CANDIDATE})
        assert (await ann.sock.wait_for("voice:candidate"))["candidate"] == CANDIDATE
        end_of_candidates = {"candidate": ""}
        await ann.ok("voice:candidate", {"channelId": vid, "toUserId": bob.id, "candidate": end_of_candidates})
        assert (await bob.sock.wait_for("voice:candidate"))["candidate"] == end_of_candidates

        # Refusals with a call going on.
        assert await _code(cat, "voice:offer", {**offer, "toUserId": ann.id}) == "VOICE_NOT_IN_CALL"  # a reader
        assert await _code(bob_phone, "voice:answer", {**offer, "toUserId": ann.id}) == "VOICE_NOT_IN_CALL"
        assert await _code(out, "voice:offer", offer) == "NOT_FOUND"
        assert await _code(ann, "voice:offer", {**offer, "channelId": general}) == "CHANNEL_NOT_VOICE"
        assert await _code(ann, "voice:offer", {**offer, "toUserId": cat.id}) == "VOICE_PEER_NOT_IN_CALL"
        assert await _code(ann, "voice:offer", {**offer, "sdp": "x" * 40_000}) == "VALIDATION_FAILED"
        assert await _code(ann, "voice:mute", {"channelId": vid}) == "VALIDATION_FAILED"

        # Mute state moves for everyone who reads the channel.
        updated = await bob.ok("voice:mute", {"channelId": vid, "isMuted": False})
        assert updated["participant"]["isMuted"] is False
        await ann.sock.wait_for("voice:updated", lambda d: d["participant"] == updated["participant"])

        # A socket that disconnects leaves the call.
        await bob.sock.close()
        left = await ann.sock.wait_for("voice:left")
        assert left == {"channelId": vid, "userId": bob.id}
        assert _users(await ann.ok("voice:participants", {"channelId": vid})) == [(ann.id, False)]
        await ann.ok("voice:leave", {"channelId": vid})
        await cat.sock.wait_for("voice:left", lambda d: d["userId"] == ann.id)
        assert _users(await cat.ok("voice:participants", {"channelId": vid})) == []
        assert await _code(ann, "voice:leave", {"channelId": vid}) == "VOICE_NOT_IN_CALL"

        # Nothing of the signalling reached a bystander or bob's other device, and nothing was stored.
        for client in (cat.sock, out.sock, bob_phone):
            assert not [e for e, _ in client.events if e in ("voice:offer", "voice:answer", "voice:candidate")]
        assert not [e for e, _ in out.sock.events if e.startswith("voice:")]
        assert await ann.ok("message:history", {"channelId": vid}) == []
    finally:
        for client in (ann.sock, bob.sock, cat.sock, out.sock, bob_phone):
            await client.close()


async def test_losing_read_access_leaves_the_call(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    ann, bob = Person(await register(http, unique_name("vx"))), Person(await register(http, unique_name("vy")))
    for p in (ann, bob):
        await p.connect(live_server)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("vpriv"), "isPublic": True})
        await bob.ok("workspace:join", {"workspaceId": ws["id"]})
        room = await ann.ok(
            "channel:create",
            {"workspaceId": ws["id"], "name": "board", "type": "VOICE", "isPrivate": True, "memberIds": [bob.id]},
        )
        await ann.ok("voice:join", {"channelId": room["id"]})
        await bob.ok("voice:join", {"channelId": room["id"]})
        await ann.ok("channel:removeMember", {"channelId": room["id"], "userId": bob.id})
        assert await ann.sock.wait_for("voice:left", lambda d: d["userId"] == bob.id)
        assert _users(await ann.ok("voice:participants", {"channelId": room["id"]})) == [(ann.id, False)]
        assert await _code(bob, "voice:join", {"channelId": room["id"]}) == "NOT_FOUND"
    finally:
        for p in (ann, bob):
            await p.sock.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[LiveServer, Callable[[], LiveServer]]]:
    """Worker A now, worker B when the test asks (after calls began): both on one SQLite file and one Redis."""
    redis = RedisServer.start()
    shared = {
        "redis_url": redis.url,
        "redis_prefix": "cnvoice",
        "database_url": f"sqlite:///{tmp_path / 'v.db'}",
        "voice_heartbeat_seconds": "2",  # a silent worker is gone after 4 beats: 8 s
        "rate_signal_burst": "8",
        "rate_signal_per_second": "0.01",
    }
    started: list[LiveServer] = []

    def start_b() -> LiveServer:
        started.append(LiveServer.start(tmp_path / "b", **shared))
        return started[-1]

    try:
        started.append(LiveServer.start(tmp_path / "a", **shared))
        yield started[0], start_b
    finally:
        for server in reversed(started):
            server.stop()
        redis.stop()


async def test_a_call_spans_two_workers(cluster: tuple[LiveServer, Callable[[], LiveServer]]) -> None:
    a, start_b = cluster
    async with httpx.AsyncClient(base_url=a.base_url, timeout=10.0) as http:
        ann, bob = Person(await register(http, unique_name("wa"))), Person(await register(http, unique_name("wb")))
    await ann.connect(a)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("vx2"), "isPublic": True})
        vid = (await ann.ok("channel:create", {"workspaceId": ws["id"], "name": "room", "type": "VOICE"}))["id"]
        await ann.ok("voice:join", {"channelId": vid})
        b = await asyncio.to_thread(start_b)  # a worker started while ann's call goes on catches up with it
        await bob.connect(b)
        await bob.ok("workspace:join", {"workspaceId": ws["id"]})
        await _until(lambda: _listed(bob, vid), [(ann.id, False)])
        joined = await bob.ok("voice:join", {"channelId": vid, "isMuted": True})
        assert _users(joined) == [(ann.id, False), (bob.id, True)]
        await ann.sock.wait_for("voice:joined", lambda d: d["participant"]["userId"] == bob.id)
        await ann.ok("voice:offer", {"channelId": vid, "toUserId": bob.id, "sdp": SDP})
        assert (await bob.sock.wait_for("voice:offer"))["fromUserId"] == ann.id
        await bob.ok("voice:answer", {"channelId": vid, "toUserId": ann.id, "sdp": SDP})
        assert (await ann.sock.wait_for("voice:answer"))["fromUserId"] == bob.id
        # Signalling has a per-user budget: ann's candidates past the burst are refused, not relayed.
        candidate = {"channelId": vid, "toUserId": bob.id, "candidate": CANDIDATE}
        answers = [await ann.call("voice:candidate", candidate) for _ in range(8)]
        assert [a["ok"] for a in answers] == [True] * 7 + [False]  # the offer took one token
        assert answers[-1]["error"]["code"] == "RATE_LIMITED"
        await bob.sock.wait_for("voice:candidate")
        await bob.sock.close()  # disconnect on worker B: worker A's list and ann both learn of it
        await ann.sock.wait_for("voice:left", lambda d: d["userId"] == bob.id)
        assert _users(await ann.ok("voice:participants", {"channelId": vid})) == [(ann.id, False)]

        # Worker B killed with bob in the call: worker A takes him out once B's heartbeats stop.
        bob.sock = SocketClient()
        await bob.connect(b)
        await bob.ok("voice:join", {"channelId": vid})
        await ann.sock.wait_for("voice:joined", lambda d: d["participant"]["userId"] == bob.id)
        ann.sock.events.clear()
        b.stop(signal.SIGKILL)
        await ann.sock.wait_for("voice:left", lambda d: d["userId"] == bob.id, timeout=30)
        assert await _listed(ann, vid) == [(ann.id, False)]
    finally:
        for p in (ann, bob):
            await p.sock.close()


async def _listed(person: Person, channel_id: str) -> list[tuple[str, bool]]:
    return _users(await person.ok("voice:participants", {"channelId": channel_id}))


async def _until(probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 10.0) -> None:
    """Wait for the catch-up (it travels through Redis), with a generous bound."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (got := await probe()) != expected:
        assert asyncio.get_running_loop().time() < deadline, got
        await asyncio.sleep(0.1)
