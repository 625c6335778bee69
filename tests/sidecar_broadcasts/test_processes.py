"""Scheduler processes racing on one SQLite file, killed mid-lease, against a real HTTP server and the real
chat core: every due in-app message is stored exactly once, every webhook delivery is answered once, and
the killed worker's delivery is taken over after its lease expires with its attempt recorded."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

from connectnow.clock import new_id, utcnow
from connectnow.identity import Principal
from connectnow.repositories.accounts import UserRepository
from connectnow.store.store_sqlite import SqliteStore
from models.users import UserRecord
from models.workspaces import WorkspaceCreate
from tests.conftest import make_settings
from tests.sidecar_broadcasts.conftest import RecordingHub
from tests.sidecar_broadcasts.helpers import add_contact, add_group, make_due, schedule_input, set_webhook
from tests.sidecar_broadcasts.receiver import Receiver
from tests.support.services import built_services, unlimited

RECIPIENTS = 10
IN_APP = 30
ROOT = Path(__file__).resolve().parents[2]


def spawn(db: Path, data_dir: Path, webhook_timeout: float) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTNOW_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sidecar_broadcasts.scheduler_process",
            str(db),
            str(data_dir),
            str(webhook_timeout),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def wait_until(predicate: object, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_two_processes_and_a_killed_one_deliver_each_message_once(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    store = SqliteStore(db)
    await store.open()
    await store.migrate()
    receiver = Receiver()
    await receiver.start()
    hub = RecordingHub()
    from connectnow.realtime.broker_memory import MemoryBroker

    await hub.attach(MemoryBroker())
    stack = AsyncExitStack()
    settings = make_settings(tmp_path, broadcast_webhook_allow_private=True)
    chat = await stack.enter_async_context(built_services(store, settings, hub, limiter=unlimited()))
    bx = chat.broadcasts  # in-app deliveries post through the chat core, as on the node
    procs: list[subprocess.Popen[bytes]] = []
    try:
        now = utcnow()
        record = UserRecord(
            id=new_id(), email="p@example.com", email_lower="p@example.com", username="p", username_lower="p",
            display_name="P", created_at=now, updated_at=now,
        )  # fmt: skip
        await UserRepository(store).insert(record)
        alice = Principal(user=record)
        ids = [await add_contact(bx, alice, f"P{i}", f"+1202555{i:04d}") for i in range(RECIPIENTS)]
        gid = await add_group(bx, alice, ids)
        await set_webhook(bx, alice, receiver.url("/hang-first"))
        workspace = await chat.workspaces.create(alice, WorkspaceCreate.model_validate({"name": "W"}))
        channel = (await chat.channels.visible(alice, workspace.id))[0].id
        in_app = [
            await bx.schedule.create(alice, schedule_input({"kind": "channel", "channelId": channel}, message=f"n{n}"))
            for n in range(IN_APP)
        ]
        for item in in_app:  # due first: the racing processes post these, then reach the webhook deliveries
            await make_due(bx, item.id, ago=timedelta(seconds=2))
        created = await bx.schedule.create(alice, schedule_input({"kind": "group", "groupId": gid}))
        await make_due(bx, created.id)

        # Two processes race; when one hangs on the webhook holding a lease, both are killed (the other one
        # at whatever point it had reached), and two fresh processes take over.
        doomed = [spawn(db, tmp_path, webhook_timeout=30.0), spawn(db, tmp_path, webhook_timeout=30.0)]
        procs += doomed
        await asyncio.wait_for(receiver.hung.wait(), timeout=30)
        for proc in doomed:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        hung_id = receiver.requests[0].delivery_id

        procs += [spawn(db, tmp_path, webhook_timeout=5.0), spawn(db, tmp_path, webhook_timeout=5.0)]

        async def all_final() -> bool:
            return await bx.schedule.deliveries.count({"sourceId": created.id, "status": "sent"}) == RECIPIENTS

        await wait_until(all_final, timeout=60)
        answered = [r.delivery_id for r in receiver.answered]
        requested = [r.delivery_id for r in receiver.requests]
        assert requested.count(hung_id) == 2  # the crash, then the takeover
        deliveries = await bx.schedule.deliveries_of(alice, created.id)
        attempts = {d.id: d.delivery_attempts for d in deliveries}
        assert set(answered) == set(attempts)  # every webhook delivery was answered
        assert attempts[hung_id] == 2
        # A webhook is at least once: the process killed beside the hung one may have been mid-request, and
        # its delivery was then sent again by the new owner (same X-ConnectNow-Delivery id, so a gateway
        # drops it). Every such repeat is an attempt recorded on the delivery.
        for delivery_id, tries in attempts.items():
            assert requested.count(delivery_id) <= tries, (delivery_id, requested.count(delivery_id), tries)
        # Only the other killed process can have left a second unfinished delivery behind.
        assert sum(1 for delivery_id, tries in attempts.items() if tries > 1 and delivery_id != hung_id) <= 1

        async def parent_sent() -> bool:
            return (await bx.schedule.get(alice, created.id)).status.value == "sent"

        await wait_until(parent_sent, timeout=10)

        async def in_app_done() -> bool:
            statuses = [(await bx.schedule.get(alice, i.id)).status.value for i in in_app]
            return statuses == ["sent"] * IN_APP

        await wait_until(in_app_done, timeout=30)
        messages = store.collection("messages")
        for n in range(IN_APP):
            assert await messages.count({"channelId": channel, "content": f"n{n}"}) == 1, n
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        await stack.aclose()
        await receiver.stop()
        await store.close()
