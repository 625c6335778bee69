"""Hot queries keep their index on SQLite: EXPLAIN QUERY PLAN on the SQL the adapter generates.

Each case runs the filter and sort a repository or service really uses (named in the case) through the SQLite
adapter's own methods, records the statements it sends, and fails when the plan scans the table instead of
searching an index, or sorts in a temporary B-tree where the index should give the order. A new hot query
gets a case here (docs/ARCHITECTURE.md, "How to add a feature").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectnow.clock import utcnow
from connectnow.services.broadcasts.delivery import DELIVERY_SPEC
from connectnow.services.leases import LeaseQueue, LeaseSpec
from connectnow.services.scheduling.jobs import JOB_LEASE_SPEC
from connectnow.store.store_sqlite import SqliteCollection, SqliteStore

NOW = utcnow()


class RecordingStore(SqliteStore):
    """The real adapter; it also keeps every statement it sends, for EXPLAIN."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.statements: list[tuple[str, list[Any]]] = []

    async def read(self, query: str, params: Any) -> list[Any]:
        self.statements.append((query, list(params)))
        return await super().read(query, params)

    async def write(self, query: str, params: Any, table: str | None = None) -> list[Any]:
        self.statements.append((query, list(params)))
        return await super().write(query, params, table)

    async def update_returning(self, before_query: Any, before_params: Any, update_query: str, *rest: Any) -> Any:
        self.statements.append((update_query, list(rest[0])))
        return await super().update_returning(before_query, before_params, update_query, *rest)


@pytest.fixture
async def plans_store(tmp_path: Path) -> AsyncIterator[RecordingStore]:
    store = RecordingStore(tmp_path / "plans.db")
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


Query = Callable[[SqliteCollection], Awaitable[object]]


@dataclass(frozen=True)
class Case:
    collection: str
    index: str  # the index the plan must search
    run: Query
    ordered: bool = True  # the index also gives the sort order (no temporary B-tree)
    also: str | None = None  # a second index the plan must search too (the other branch of an $or)


def lease_claim(spec: LeaseSpec) -> Query:
    async def claim(coll: SqliteCollection) -> object:
        return await LeaseQueue(coll, spec, lease_seconds=30).claim("worker-1", now=NOW)

    return claim


CASES: dict[str, Case] = {
    # MessageLog.page: latest page, before a seq, after a seq (channels and direct conversations).
    "history-latest": Case(
        "messages",
        "ix_messages_seq",
        lambda c: c.find({"channelId": "c1", "seq": {"$exists": True}}, sort=[("seq", -1)], limit=50),
    ),
    "history-before": Case(
        "messages",
        "ix_messages_seq",
        lambda c: c.find({"channelId": "c1", "seq": {"$lt": 500}}, sort=[("seq", -1)], limit=50),
    ),
    "history-after-direct": Case(
        "direct_messages",
        "ix_direct_messages_seq",
        lambda c: c.find({"conversationId": "d1", "seq": {"$gt": 10}}, sort=[("seq", 1)], limit=50),
    ),
    # MessageLog.changed_since (sync after a reconnect).
    "changed-since": Case(
        "messages",
        "ix_messages_event_seq",
        lambda c: c.find({"channelId": "c1", "lastEventSeq": {"$gt": 7}}, sort=[("lastEventSeq", 1)], limit=200),
    ),
    "changed-since-direct": Case(
        "direct_messages",
        "ix_direct_messages_event_seq",
        lambda c: c.find({"conversationId": "d1", "lastEventSeq": {"$gt": 7}}, sort=[("lastEventSeq", 1)], limit=200),
    ),
    # MessageLog.append: the idempotency lookup on every send.
    "dedupe": Case("messages", "ux_messages_dedupe", lambda c: c.find_one({"dedupeKey": "c1:u1:m1"})),
    "dedupe-direct": Case(
        "direct_messages", "ux_direct_messages_dedupe", lambda c: c.find_one({"dedupeKey": "d1:u1:m1"})
    ),
    # ReadStateService.unread (per joined channel) and DirectMessageRepository.unread_counts.
    "unread-channel": Case(
        "messages",
        "ix_messages_seq",
        lambda c: c.count({"channelId": "c1", "seq": {"$gt": 3}, "isDeleted": False, "userId": {"$ne": "u1"}}),
    ),
    "unread-direct": Case(
        "direct_messages",
        "ix_direct_messages_recipient_unread",
        lambda c: c.count_by(
            {
                "conversationId": {"$in": ["d1", "d2"]},
                "recipientId": "u1",
                "isRead": False,
                "isDeleted": False,
                "seq": {"$exists": True},
            },
            "conversationId",
        ),
        ordered=False,
    ),
    # LeaseQueue.claim for every background queue: due items, or running ones whose lease expired.
    "lease-worker-jobs": Case(
        "worker_jobs", "ix_worker_jobs_due", lease_claim(JOB_LEASE_SPEC), ordered=False, also="ix_worker_jobs_lease"
    ),
    "lease-deliveries": Case(
        "broadcast_deliveries",
        "ix_deliveries_due",
        lease_claim(DELIVERY_SPEC),
        ordered=False,
        also="ix_deliveries_lease",
    ),
    "lease-reminders": Case(
        "calendar_reminders",
        "ix_cal_reminders_due",
        lease_claim(LeaseSpec()),
        ordered=False,
        also="ix_cal_reminders_lease",
    ),
    "lease-exports": Case(
        "calendar_exports", "ix_cal_exports_due", lease_claim(LeaseSpec()), ordered=False, also="ix_cal_exports_lease"
    ),
    # EventRepository.in_range and at_location (calendar views, free/busy, room conflicts).
    "calendar-range": Case(
        "calendar_events",
        "ix_cal_events_calendar_range",
        lambda c: c.find(
            {
                "calendarId": {"$in": ["k1", "k2"]},
                "startTime": {"$lt": NOW + timedelta(days=7)},
                "rangeEnd": {"$gt": NOW},
            },
            sort=[("startTime", 1), ("id", 1)],
            limit=500,
        ),
        ordered=False,  # several calendars: SQLite merges their ranges with a temporary B-tree
    ),
    "calendar-location": Case(
        "calendar_events",
        "ix_cal_events_location",
        lambda c: c.find(
            {"locationId": "l1", "startTime": {"$lt": NOW + timedelta(days=1)}, "rangeEnd": {"$gt": NOW}},
            sort=[("startTime", 1)],
            limit=2000,
        ),
    ),
}


async def explain(store: SqliteStore, query: str, params: list[Any]) -> list[str]:
    rows = await SqliteStore.read(store, f"EXPLAIN QUERY PLAN {query}", params)  # not recorded
    return [str(row[-1]) for row in rows]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_hot_query_searches_its_index(plans_store: RecordingStore, name: str) -> None:
    case = CASES[name]
    await case.run(plans_store.collection(case.collection))
    assert plans_store.statements, "the adapter sent no statement"
    for query, params in list(plans_store.statements):
        plan = await explain(plans_store, query, params)
        scans = [step for step in plan if step.startswith(f"SCAN {case.collection}")]
        assert not scans, f"{name}: full table scan\n{query}\n" + "\n".join(plan)
        for index in filter(None, (case.index, case.also)):
            assert any(f"USING INDEX {index} " in f"{step} " for step in plan), (
                f"{name}: {index} unused\n{query}\n" + "\n".join(plan)
            )
        if case.ordered:
            assert not any("TEMP B-TREE" in step for step in plan), f"{name}: sorts without the index\n" + "\n".join(
                plan
            )


async def test_the_check_catches_a_scan(plans_store: RecordingStore) -> None:
    """The plan check itself: a filter on an unindexed field is reported as a scan."""
    await plans_store.collection("messages").find({"content": "hello"})
    query, params = plans_store.statements[-1]
    assert any(step.startswith("SCAN messages") for step in await explain(plans_store, query, params))
