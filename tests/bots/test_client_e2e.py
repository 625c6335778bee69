"""connectnow_client against a live server: errors with codes, rate limits waited out by `retryAfter`, and a
stream that recovers by the PROTOCOL.md rule (holes, reconnects, `recovered: false` paged through REST)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from connectnow_client import Client, ConnectNowError, Message, RateLimited, Stream

from tests.bots.world import World, make_world, post
from tests.support.clients import bearer, register
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    # A small send bucket (rate limits show quickly) and a small sync bound (recovered: false shows quickly).
    live = LiveServer.start(tmp_path / "client", rate_send_burst="3", rate_send_per_second="4", sync_max_messages="3")
    try:
        yield live
    finally:
        live.stop()


@asynccontextmanager
async def running(stream: Stream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        await asyncio.wait_for(stream.connected.wait(), 15)
        yield task
    finally:
        stream.stop()
        await asyncio.wait_for(task, 15)


async def wait_until(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def latest_event_seq(world: World, stream: Stream) -> int:
    """The channel's latest eventSeq as the server says (a probe `sync`)."""
    [result] = await stream.call("sync", {"conversations": [{"kind": "channel", "id": world.channel_id,
                                                              "lastEventSeq": 2**53}]})  # fmt: skip
    latest: int = result["latestEventSeq"]
    return latest


async def test_errors_carry_codes_and_rate_limits_are_waited_out(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        world = await make_world(server, http)
        stranger = await register(http)
    async with Client(server.base_url, token=stranger["accessToken"]) as outsider:
        with pytest.raises(ConnectNowError) as refused:
            await outsider.send_message(world.channel_id, "let me in")
        assert refused.value.code in {"NOT_A_MEMBER", "NOT_FOUND"} and refused.value.status in {403, 404}
        with pytest.raises(ConnectNowError) as unknown:
            await outsider.get_message("0" * 24)
        assert unknown.value.code == "NOT_FOUND"

    async with Client(server.base_url, api_key=world.api_key, max_retries=0) as impatient:
        with pytest.raises(RateLimited) as limited:
            for i in range(10):
                await impatient.send_message(world.channel_id, f"burst {i}")
        assert limited.value.code == "RATE_LIMITED" and limited.value.retry_after and limited.value.retry_after > 0

    async with Client(server.base_url, api_key=world.api_key) as patient:
        await asyncio.sleep(1.5)  # let the bucket refill a little: the next sends start mid-bucket
        sent = [
            await patient.send_message(world.channel_id, f"steady {i}", client_msg_id=f"steady-{i}") for i in range(8)
        ]
        assert [m.content for m in sent] == [f"steady {i}" for i in range(8)]
        again = await patient.send_message(world.channel_id, "steady 0", client_msg_id="steady-0")
        assert again.id == sent[0].id, "the same clientMsgId answers the message already stored"


async def test_stream_hole_and_reconnect_recover_every_message_once(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        world = await make_world(server, http)
        got: list[Message] = []

        async def collect(message: Message) -> None:
            got.append(message)

        async with Client(server.base_url, api_key=world.api_key) as client:
            stream = Stream(client, on_message=collect, hole_wait=0.3, reconnect_min=3.0)
            stream.watch(world.channel_id)
            async with running(stream):
                first = await post(world, "first")
                await wait_until(lambda: [m.id for m in got] == [first["id"]])
                # A refused stale edit may take an eventSeq without an event (PROTOCOL.md): whether or not this
                # server leaves such a hole, the stream must end level with the server, each message once.
                stale = await http.patch(
                    f"/api/v1/messages/{first['id']}",
                    json={"content": "stale", "version": 99},
                    headers=bearer(world.alice["accessToken"]),
                )
                assert stale.status_code == 409
                second = await post(world, "second")
                await wait_until(lambda: len(got) == 2)
                latest = await latest_event_seq(world, stream)
                await wait_until(lambda: stream.conversations[("channel", world.channel_id)].contiguous == latest)

                # Cut the stream off; five messages (more than the server's sync bound of 3) arrive meanwhile.
                admin = bearer(world.admin_token)
                cut = await http.post(
                    "/api/v1/admin/actions",
                    json={"action": "disconnect", "userId": world.bot_user["user"]["id"]},
                    headers=admin,
                )
                assert cut.status_code == 200, cut.text
                missed = [await post(world, f"missed {i}") for i in range(5)]
                await wait_until(lambda: len(got) == 7, timeout=20)
                assert stream.reconnects == 1
                assert [m.id for m in got] == [first["id"], second["id"], *[m["id"] for m in missed]]
                assert stream.conversations[("channel", world.channel_id)].contiguous == await latest_event_seq(
                    world, stream
                )
                await asyncio.sleep(0.8)
                assert len(got) == 7, "nothing is delivered twice"


async def test_a_revoked_key_stops_the_stream_with_its_code(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        world = await make_world(server, http)
        async with Client(server.base_url, api_key=world.api_key) as client:
            stream = Stream(client, reconnect_min=0.3)
            task = asyncio.create_task(stream.run())
            await asyncio.wait_for(stream.connected.wait(), 15)
            keys = await http.get("/api/v1/api-keys", headers=bearer(world.bot_user["accessToken"]))
            revoked = await http.delete(
                f"/api/v1/api-keys/{keys.json()[0]['id']}", headers=bearer(world.bot_user["accessToken"])
            )
            assert revoked.status_code == 200, revoked.text
            with pytest.raises(ConnectNowError) as stopped:
                await asyncio.wait_for(task, 15)
            assert stopped.value.code == "API_KEY_REVOKED"


class LossyStream(Stream):
    """A stream whose network loses the next `lose` new-message events (the socket stays up)."""

    lose = 0

    def feed(self, event: str, data: Any) -> None:
        if event == "message:new" and self.lose > 0:
            self.lose -= 1
            return
        super().feed(event, data)


async def test_events_lost_in_transit_are_recovered_by_the_hole_sync(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        world = await make_world(server, http)
        got: list[Message] = []

        async def collect(message: Message) -> None:
            got.append(message)

        async with Client(server.base_url, api_key=world.api_key) as client:
            stream = LossyStream(client, on_message=collect, hole_wait=0.5)
            stream.watch(world.channel_id)
            async with running(stream):
                before = stream.recoveries
                stream.lose = 2
                sent = [await post(world, f"lossy {i}") for i in range(3)]
                # The third arrives past a hole; within the wait the stream syncs and hands on the lost two.
                await wait_until(lambda: len(got) == 3)
                assert {m.id for m in got} == {m["id"] for m in sent}
                assert got[0].id == sent[2]["id"], "what arrived is handed on at once, not held for the hole"
                assert stream.recoveries > before
                latest = await latest_event_seq(world, stream)
                await wait_until(lambda: stream.conversations[("channel", world.channel_id)].contiguous == latest)
                assert stream.reconnects == 0
                await asyncio.sleep(0.8)
                assert len(got) == 3, "nothing is delivered twice"
