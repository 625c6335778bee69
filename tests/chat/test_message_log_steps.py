"""The message engine's steps on both adapters: contiguous numbers under concurrency, and what a crash leaves.

A "crash" is an exception thrown inside a step after its writes (on SQLite the transaction rolls back; on
MongoDB the writes stay and the step repairs the counters) or a lease left unreleased with its writes done,
which is what `kill -9` of a worker in the middle of a step leaves on MongoDB.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from connectnow import errors
from connectnow.clock import new_id
from connectnow.errors import AppError
from connectnow.repositories.message_log import COUNTERS, MessageLog
from connectnow.store.port import DocumentStore
from connectnow.store.store_mongo import MongoStore
from connectnow.store.store_sqlite import SqliteStore
from models.messages import MessageRecord
from tests.chat.test_message_log import builder, make_log
from tests.conftest import MONGO_ID, open_test_store

SENDERS = 6
PER_SENDER = 5


class Crash(Exception):
    pass


def repairs_of(log: MessageLog[Any]) -> list[int]:
    seen: list[int] = []
    log.on_repair = lambda _scope, n: seen.append(n)
    return seen


async def send(log: MessageLog[MessageRecord], channel: str, user: str, cmid: str) -> tuple[MessageRecord, bool]:
    return await log.append(channel, user, cmid, builder(channel, user, cmid, f"{user}/{cmid}"))


async def second_store(store: DocumentStore) -> DocumentStore:
    """The same database through a second store object, as a second worker process would open it."""
    if isinstance(store, SqliteStore):
        other = SqliteStore(store.path)
        await other.open()
        return other
    assert isinstance(store, MongoStore)
    return type(store)(store.client, store.database.name)


async def test_every_stored_change_takes_the_next_event_number_and_refusals_take_none(
    store: DocumentStore,
) -> None:
    log = make_log(store)
    channel = new_id()
    first, _ = await send(log, channel, "u0", "first")
    taken: list[int] = [first.last_event_seq]

    async def sender(n: int) -> None:
        for i in range(PER_SENDER):
            record, created = await send(log, channel, f"u{n}", f"m{i}")
            if created:
                taken.append(record.last_event_seq)
            await send(log, channel, f"u{n}", f"m{i}")  # a replay: no number
            try:  # half of these are stale: refused, no number
                edited = await log.edit(first.id, channel, 1 + len(taken) % 3, {"content": f"{n}/{i}"})
                taken.append(edited.last_event_seq)
            except AppError as exc:
                assert exc.error is errors.VERSION_CONFLICT

    await asyncio.gather(*(sender(n) for n in range(SENDERS)))
    assert sorted(taken) == list(range(1, len(taken) + 1))  # contiguous: 1..N, each once
    seq, event_seq = await log.counters.current(channel)
    assert (seq, event_seq) == (SENDERS * PER_SENDER + 1, len(taken))
    stored = await log.repo.find({"channelId": channel})
    assert sorted(m.seq or 0 for m in stored) == list(range(1, seq + 1))


async def test_two_workers_on_one_database_number_contiguously(store: DocumentStore) -> None:
    other = await second_store(store)
    logs = [make_log(store), make_log(other)]
    channel = new_id()
    results = await asyncio.gather(
        *(send(logs[n % 2], channel, f"u{n}", f"m{i}") for n in range(SENDERS) for i in range(PER_SENDER))
    )
    if isinstance(other, SqliteStore):
        await other.close()
    assert all(created for _, created in results)
    assert sorted(r.seq or 0 for r, _ in results) == list(range(1, SENDERS * PER_SENDER + 1))
    assert sorted(r.last_event_seq for r, _ in results) == list(range(1, SENDERS * PER_SENDER + 1))


async def test_a_step_that_fails_after_its_write_leaves_a_consistent_conversation(store: DocumentStore) -> None:
    log = make_log(store)
    repaired = repairs_of(log)
    channel = new_id()
    await send(log, channel, "u", "a")
    record = builder(channel, "u", "b", "half")(0, 0, f"{channel}:u:b")
    with pytest.raises(Crash):
        async with log.step(channel) as step:
            seq, event_seq = step.seq + 1, step.event_seq + 1
            await log.repo.coll.insert_one(record.model_copy(update={"seq": seq, "last_event_seq": event_seq}).to_doc())
            raise Crash
    stored = await log.repo.find({"channelId": channel})
    if store.atomic_transactions:
        assert [m.client_msg_id for m in stored] == ["a"] and not repaired  # rolled back
    else:
        assert sorted(m.seq or 0 for m in stored) == [1, 2] and sum(repaired) >= 1  # kept and counted
    after, created = await send(log, channel, "u", "c")
    assert created and after.seq == len(stored) + 1 and after.last_event_seq == len(stored) + 1
    replay, created = await send(log, channel, "u", "b")  # the unacknowledged one: resent, stored once
    assert replay.client_msg_id == "b" and replay.seq is not None
    assert await log.repo.count({"channelId": channel, "clientMsgId": "b"}) == 1


async def test_a_dead_workers_lease_is_repaired_by_the_next_write_and_at_start_up(store: DocumentStore) -> None:
    """What kill -9 between the message write and the counters' release leaves on MongoDB."""
    log = make_log(store)
    repaired = repairs_of(log)
    channel, other = new_id(), new_id()
    for conversation in (channel, other):
        await send(log, conversation, "u", "a")
        # The dead step: message 2 (event 2) stored, counters still at 1 and the lease never released.
        record = builder(conversation, "u", "b", "orphaned")(0, 0, f"{conversation}:u:b")
        await log.repo.coll.insert_one(record.model_copy(update={"seq": 2, "last_event_seq": 2}).to_doc())
        await store.collection(COUNTERS).update_one(
            {"id": f"channel:{conversation}"},
            {"$set": {"lockOwner": "dead", "lockUntil": time.time() - 1}, "$inc": {"leases": 1}},
        )
    # The next write on the conversation repairs it before going on.
    after, created = await send(log, channel, "u", "c")
    assert created and (after.seq, after.last_event_seq) == (3, 3) and sum(repaired) >= 2
    # The start-up pass repairs the other one, with no write needed.
    assert await log.repair_all() == 1
    assert await log.counters.current(other) == (2, 2)
    assert await log.repair_all() == 0


async def test_messages_without_a_seq_are_numbered_and_their_replays_answered(store: DocumentStore) -> None:
    """Rows an older version left without a seq are numbered by the start-up pass or on replay."""
    log = make_log(store)
    repaired = repairs_of(log)
    channel = new_id()
    await send(log, channel, "u", "a")
    for cmid in ("x", "y"):
        record = builder(channel, "u", cmid, "legacy")(0, 0, f"{channel}:u:{cmid}")
        await log.repo.coll.insert_one(record.to_doc())
    replay, created = await send(log, channel, "u", "x")  # answered at once, now with a seq
    assert not created and replay.seq in (2, 3)
    rows = await log.page(channel, after=0)  # the replay's repair numbered the whole conversation
    assert [m.seq for m in rows] == [1, 2, 3] and sum(repaired) == 2
    assert await log.counters.current(channel) == (3, 3)
    other = new_id()
    await log.repo.coll.insert_one(builder(other, "u", "z", "legacy")(0, 0, f"{other}:u:z").to_doc())
    assert await log.repair_all() == 1  # the start-up pass finds the other conversation
    assert [m.seq for m in await log.page(other, after=0)] == [1] and await log.repair_all() == 0


async def test_a_busy_lease_waits_then_goes_on(tmp_path: Path) -> None:
    """MongoDB: a step waits for another worker's live lease. (On SQLite a lease lives only inside its
    transaction, so no other writer ever sees one held.)"""
    store = await open_test_store(MONGO_ID, tmp_path)
    log = make_log(store)
    channel = new_id()
    await send(log, channel, "u", "a")
    coll = store.collection(COUNTERS)
    await coll.update_one({"id": f"channel:{channel}"}, {"$set": {"lockOwner": "alive", "lockUntil": time.time() + 60}})

    async def release_soon() -> None:
        await asyncio.sleep(0.2)
        await coll.update_one({"id": f"channel:{channel}"}, {"$set": {"lockOwner": None, "lockUntil": None}})

    releaser = asyncio.create_task(release_soon())
    started = time.monotonic()
    record, created = await send(log, channel, "u", "b")
    await releaser
    assert created and record.seq == 2 and time.monotonic() - started >= 0.2
    await store.close()


async def test_concurrent_appends_share_steps(store: DocumentStore) -> None:
    """Group commit: appends that arrive while a step runs go together in the next one, each answered after
    it, with the same numbering as one by one."""
    log = make_log(store)
    channel = new_id()
    results = await asyncio.gather(*(send(log, channel, "u", f"g{i}") for i in range(30)))
    assert [r.seq for r, _ in results] == list(range(1, 31))  # arrival order
    counters = await store.collection(COUNTERS).find_one({"id": f"channel:{channel}"})
    assert counters is not None and counters["released"] == counters["leases"]
    if store.kind == "sqlite":  # mongomock answers without ever yielding, so nothing can queue behind a step
        assert counters["leases"] < 30
