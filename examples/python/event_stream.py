"""The client rule for one conversation's event stream (docs/PROTOCOL.md, "Event streams").

No dependencies, no I/O: feed it live events and `sync` results, apply what it hands back, and `sync` when
`needs_sync()` says so (and on every reconnect). The test suite drives this very module against live servers.

    stream = EventStream(mark=result["latestEventSeq"])      # from a first sync
    for event in stream.on_event(data): apply(event)          # on every live event of the conversation
    if stream.needs_sync(): messages, events = stream.on_sync(await sync(stream.mark))
"""

from __future__ import annotations

import time
from typing import Any

HOLE_WAIT_SECS = 1.0  # workers hold reordered events for at most 0.2 s: a hole older than this was missed


class EventStream:
    def __init__(self, mark: int = 0, *, hole_wait: float = HOLE_WAIT_SECS) -> None:
        self.mark = mark  # every change up to this eventSeq has been applied
        self.hole_wait = hole_wait
        self.held: dict[int, dict[str, Any]] = {}  # events after a hole, by eventSeq
        self.hole_since: float | None = None

    def on_event(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The events to apply now, in order: this one and the held ones that follow on (none when it is a
        repeat, or after a hole)."""
        event_seq = data.get("eventSeq")
        if not isinstance(event_seq, int):
            return [data]  # not a numbered change (typing, read receipts): apply as it comes
        if event_seq <= self.mark:
            return []  # already applied (live or through sync)
        self.held[event_seq] = data
        ready = self._follow_on()
        if not self.held:
            self.hole_since = None
        elif self.hole_since is None:
            self.hole_since = time.monotonic()
        return ready

    def needs_sync(self) -> bool:
        """True when a hole has stayed open past the wait: call `sync` from `mark`."""
        return self.hole_since is not None and time.monotonic() - self.hole_since >= self.hole_wait

    def on_sync(self, result: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Take a `sync` result for this conversation: returns (messages to apply in their current state,
        then held events to apply after them)."""
        messages: list[dict[str, Any]] = list(result.get("messages") or [])
        top = max([int(result.get("latestEventSeq") or 0), *(int(m.get("lastEventSeq") or 0) for m in messages)])
        self.mark = max(self.mark, top)
        self.held = {n: e for n, e in self.held.items() if n > self.mark}
        ready = self._follow_on()
        self.hole_since = time.monotonic() if self.held else None
        return messages, ready

    def _follow_on(self) -> list[dict[str, Any]]:
        ready = []
        while (event := self.held.pop(self.mark + 1, None)) is not None:
            ready.append(event)
            self.mark += 1
        return ready
