"""Per-conversation event order on the receiving worker.

Every stored change to a conversation takes the next `eventSeq` (connectnow/repositories/message_log.py), but
its live event can reach a worker out of order: two workers publish through separate Redis connections, and
two tasks of one worker publish after their commits in whichever order they resume. Each worker therefore
passes a conversation room's numbered events through a `StreamOrder`: the next expected number is delivered
at once (with any held successors), a later one is held until the hole fills, for at most `hold_seconds`;
then the held events go out in order and the hole is left for the client to fill with `sync` (the client rule
in docs/PROTOCOL.md). An event older than the next expected one (late, or a duplicate) is passed on as is:
the client ignores numbers it already has.

Only events to a conversation room (`channel:{id}`, `dm:{id}`) that carry an integer `eventSeq` are ordered;
everything else (typing, read receipts, events to user rooms such as mentions) passes straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

HOLD_SECONDS = 0.2  # cross-worker reordering through Redis is a few milliseconds; a lost event is not
MAX_STREAMS = 20_000  # conversations remembered per worker (the least recently active are forgotten)
ORDERED_ROOM_PREFIXES = ("channel:", "dm:")

Deliver = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class _Stream:
    next: int
    held: dict[int, dict[str, Any]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


def stream_key(message: dict[str, Any]) -> tuple[str, int] | None:
    """(room, eventSeq) of an event that belongs to a conversation's numbered stream, else None."""
    room, data = message.get("room"), message.get("data")
    if not isinstance(room, str) or not room.startswith(ORDERED_ROOM_PREFIXES) or not isinstance(data, dict):
        return None
    event_seq = data.get("eventSeq")
    if not isinstance(event_seq, int) or isinstance(event_seq, bool):
        return None
    return room, event_seq


class StreamOrder:
    def __init__(self, deliver: Deliver, *, hold_seconds: float = HOLD_SECONDS, max_streams: int = MAX_STREAMS):
        self.deliver = deliver
        self.hold_seconds = hold_seconds
        self.max_streams = max_streams
        self.streams: OrderedDict[str, _Stream] = OrderedDict()
        self.held_total = 0  # events that waited for an earlier one
        self.released_with_hole = 0  # holds that timed out (the client syncs)
        self._lock = asyncio.Lock()  # deliveries of one worker happen one at a time, in order
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, message: dict[str, Any]) -> None:
        key = stream_key(message)
        if key is None:
            await self.deliver(message)
            return
        room, event_seq = key
        async with self._lock:
            stream = self.streams.get(room)
            if stream is None:
                stream = self.streams[room] = _Stream(next=event_seq)
                self._forget_idle()
            self.streams.move_to_end(room)
            if event_seq < stream.next:
                await self.deliver(message)  # late or repeated: the client drops what it has
                return
            if event_seq > stream.next:
                stream.held[event_seq] = message
                self.held_total += 1
                if stream.timer is None:
                    stream.timer = asyncio.get_running_loop().call_later(self.hold_seconds, self._expire, room)
                return
            await self.deliver(message)
            stream.next += 1
            await self._drain(stream)

    async def _drain(self, stream: _Stream) -> None:
        """Deliver the held events that now follow on, and stop the timer when nothing is held."""
        while (held := stream.held.pop(stream.next, None)) is not None:
            await self.deliver(held)
            stream.next += 1
        if not stream.held and stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None

    def _expire(self, room: str) -> None:
        task = asyncio.get_running_loop().create_task(self._release(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, room: str) -> None:
        """The hold ran out: skip the hole (the client syncs it) and deliver what was held, in order."""
        async with self._lock:
            stream = self.streams.get(room)
            if stream is None:
                return
            stream.timer = None
            if not stream.held:
                return
            self.released_with_hole += 1
            stream.next = min(stream.held)
            await self._drain(stream)
            if stream.held:  # another hole further on: hold the rest again
                stream.timer = asyncio.get_running_loop().call_later(self.hold_seconds, self._expire, room)

    def _forget_idle(self) -> None:
        while len(self.streams) > self.max_streams:
            room, oldest = next(iter(self.streams.items()))
            if oldest.held:
                self.streams.move_to_end(room)
                return
            del self.streams[room]

    async def close(self) -> None:
        for stream in self.streams.values():
            if stream.timer is not None:
                stream.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
