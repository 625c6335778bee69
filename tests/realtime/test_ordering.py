"""A worker delivers each conversation's numbered events in eventSeq order (connectnow/realtime/ordering.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from connectnow.realtime.ordering import StreamOrder

HOLD = 0.05


def event(room: str, event_seq: int | None, name: str = "message:new") -> dict[str, Any]:
    data: dict[str, Any] = {"messageId": "m"}
    if event_seq is not None:
        data["eventSeq"] = event_seq
    return {"op": "emit", "event": name, "room": room, "data": data}


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, int | None]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.got.append((message["room"], message["data"].get("eventSeq")))


async def test_a_later_event_waits_for_the_earlier_one() -> None:
    sink = Sink()
    order = StreamOrder(sink, hold_seconds=10)
    for n in (1, 3, 4, 2, 5):
        await order.accept(event("channel:a", n))
    assert sink.got == [("channel:a", n) for n in (1, 2, 3, 4, 5)]
    assert order.held_total == 2 and order.released_with_hole == 0
    await order.close()


async def test_a_hole_not_filled_in_time_is_skipped_in_order() -> None:
    sink = Sink()
    order = StreamOrder(sink, hold_seconds=HOLD)
    for n in (7, 10, 9):
        await order.accept(event("dm:x", n))
    assert sink.got == [("dm:x", 7)]
    await asyncio.sleep(HOLD * 4)
    assert sink.got == [("dm:x", 7), ("dm:x", 9), ("dm:x", 10)]
    assert order.released_with_hole == 1
    await order.accept(event("dm:x", 8))  # late: passed on (the client already synced it)
    await order.accept(event("dm:x", 11))
    assert sink.got[-2:] == [("dm:x", 8), ("dm:x", 11)]
    await order.close()


async def test_streams_are_independent_and_unnumbered_events_pass_straight_through() -> None:
    sink = Sink()
    order = StreamOrder(sink, hold_seconds=10)
    await order.accept(event("channel:a", 1))
    await order.accept(event("channel:a", 3))  # held
    await order.accept(event("channel:b", 5))
    await order.accept(event("channel:a", None, "typing:start"))
    await order.accept(event("user:u", 9, "message:mention"))
    assert sink.got == [("channel:a", 1), ("channel:b", 5), ("channel:a", None), ("user:u", 9)]
    await order.close()


async def test_idle_streams_are_forgotten_beyond_the_bound() -> None:
    sink = Sink()
    order = StreamOrder(sink, hold_seconds=10, max_streams=3)
    for n in range(10):
        await order.accept(event(f"channel:{n}", 1))
    assert len(order.streams) == 3 and len(sink.got) == 10
    await order.close()
