"""A live stream of conversation events (channels and direct conversations) that recovers what it missed, by
the rule in docs/PROTOCOL.md ("Recovery"):

- per conversation, track the highest *contiguous* `eventSeq` seen;
- an event past a hole is delivered at once, and if the hole is not filled within `hole_wait` seconds
  (events may arrive out of order across workers), `sync` is called from the contiguous mark;
- after every reconnect, `sync` is called for every tracked conversation from its contiguous mark;
- when `sync` answers `recovered: false`, the REST cursor it gives is paged until `nextCursor` is null.

Messages are handed on once each (by id), whether they came live or from a recovery, so a hole that turns
out to be harmless (the server may skip an eventSeq) costs one `sync` call and nothing else.

The stream reconnects by itself with backoff; it stops for good when the server refuses the credentials
(revoked key, banned account): `run()` then raises the `ConnectNowError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from connectnow_client.client import Client, new_client_msg_id
from connectnow_client.errors import ConnectNowError, RateLimited
from connectnow_client.models import ChannelEvent, Message

log = logging.getLogger("connectnow_client.stream")

# Conversation events that carry the conversation's eventSeq (docs/PROTOCOL.md, "Server -> client events").
CHANNEL_EVENTS = (
    "message:new",
    "message:updated",
    "message:deleted",
    "message:pinned",
    "message:unpinned",
    "reaction:added",
    "reaction:removed",
    "thread:updated",
)
DIRECT_EVENTS = ("dm:message", "dm:message:updated", "dm:message:deleted")
TRACKED_EVENTS = frozenset(CHANNEL_EVENTS + DIRECT_EVENTS)
NEW_MESSAGE_EVENTS = frozenset({"message:new", "dm:message"})
# Refusals that no reconnect can fix: the stream stops and says why.
FATAL_CONNECT_CODES = frozenset(
    {"AUTH_INVALID_TOKEN", "AUTH_TOKEN_EXPIRED", "AUTH_MALFORMED", "API_KEY_REVOKED", "USER_BANNED", "USER_DISABLED"}
)
SYNC_BATCH = 100  # conversations per `sync` call (the server's limit)
PROBE_EVENT_SEQ = 2**53  # "I have seen everything": sync answers the latest eventSeq and no messages
SEEN_MESSAGES = 10_000

MessageCallback = Callable[[Message], Awaitable[None]]
EventCallback = Callable[[ChannelEvent], Awaitable[None]]
Key = tuple[str, str]  # ("channel" | "dm", id)


@dataclass
class _Channel:
    contiguous: int
    ahead: set[int] = field(default_factory=set)  # eventSeqs seen past a hole


@dataclass(frozen=True)
class _Item:
    kind: str  # "event" | "recovered" | "hole"
    name: str = ""
    data: Any = None


class Stream:
    def __init__(
        self,
        client: Client,
        *,
        on_message: MessageCallback | None = None,
        on_event: EventCallback | None = None,
        hole_wait: float = 1.5,
        reconnect_min: float = 1.0,
        reconnect_max: float = 30.0,
        ack_timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.on_message = on_message
        self.on_event = on_event
        self.hole_wait = hole_wait
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.ack_timeout = ack_timeout
        self.conversations: dict[Key, _Channel] = {}
        self.watched: set[str] = set()  # channels to track from the first connect, even before any event
        self.reconnects = 0  # completed reconnects (not counting the first connect)
        self.recoveries = 0  # sync calls made (holes and reconnects)
        self.connected = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._hole_timers: dict[Key, asyncio.Task[None]] = {}
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._refused: list[Any] = []  # connect_error payloads of the current connection attempt
        self._fatal: ConnectNowError | None = None
        self._sio: socketio.AsyncClient | None = None

    # --- what a caller uses -----------------------------------------------------------------------------
    def watch(self, channel_id: str) -> None:
        """Track a channel from the start (its current eventSeq is fetched on connect)."""
        self.watched.add(channel_id)

    async def call(self, event: str, payload: Any = None) -> Any:
        """A Socket.IO call: the ack's `data`, or `ConnectNowError`; RATE_LIMITED is retried after `retryAfter`."""
        attempt = 0
        while True:
            sio = self._sio
            if sio is None or not sio.connected:
                raise ConnectNowError("NOT_CONNECTED", "the stream is not connected")
            ack = await sio.call(event, payload, timeout=self.ack_timeout)
            if isinstance(ack, dict) and ack.get("ok") is True:
                return ack.get("data")
            error = ConnectNowError.from_body(ack)
            if error.code != "RATE_LIMITED":
                raise error
            if attempt >= self.client.max_retries:
                raise RateLimited(error.code, error.message, retryable=True, details=error.details)
            await asyncio.sleep(self.client._wait(error, attempt))
            attempt += 1

    async def send(
        self, channel_id: str, content: str, *, parent_id: str | None = None, client_msg_id: str | None = None
    ) -> Message:
        """`message:send` over the socket (same idempotency as REST: the same clientMsgId stores one message)."""
        payload: dict[str, Any] = {"channelId": channel_id, "content": content,
                                   "clientMsgId": client_msg_id or new_client_msg_id()}  # fmt: skip
        if parent_id is not None:
            payload["parentId"] = parent_id
        data = await self.call("message:send", payload)
        return Message.from_wire(data["message"])

    def feed(self, event: str, data: Any) -> None:
        """Hand the stream one event as the socket received it (the socket calls this for every event)."""
        if event in TRACKED_EVENTS and isinstance(data, dict):
            self._queue.put_nowait(_Item("event", event, data))

    def stop(self) -> None:
        self._stopping = True
        self._stop_event.set()
        self._queue.put_nowait(_Item("stop"))

    async def run(self) -> None:
        """Connect, keep connected, and hand on events until `stop()` (or a fatal refusal, raised here)."""
        consumer = asyncio.create_task(self._consume(), name="connectnow-stream-consumer")
        try:
            await self._supervise()
        finally:
            self._queue.put_nowait(_Item("stop"))
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            for timer in self._hole_timers.values():
                timer.cancel()
            if self._sio is not None:
                await self._dispose(self._sio)
        if self._fatal is not None:
            raise self._fatal

    # --- the connection -----------------------------------------------------------------------------------
    def _new_socket(self, gone: asyncio.Event) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False)  # reconnects are ours: they must be followed by a sync
        self._refused = []

        async def on_any(event: str, data: Any = None) -> None:
            self.feed(event, data)

        async def on_disconnect(*_: Any) -> None:
            self.connected.clear()
            gone.set()

        async def on_connect_error(data: Any) -> None:
            self._refused.append(data)

        sio.on("*", on_any)
        sio.on("disconnect", on_disconnect)
        sio.on("connect_error", on_connect_error)
        return sio

    async def _supervise(self) -> None:
        delay = self.reconnect_min
        first = True
        while not self._stopping:
            gone = asyncio.Event()
            sio = self._new_socket(gone)
            try:
                await sio.connect(self.client.url, auth={"token": self.client.credential},
                                  transports=["websocket"], wait_timeout=10)  # fmt: skip
            except socketio.exceptions.ConnectionError as exc:
                await self._dispose(sio)
                if self._refused_for_good():
                    return
                log.warning("cannot connect (%s); retrying in %.1fs", exc, delay)
                await self._sleep(delay)
                delay = min(delay * 2, self.reconnect_max)
                continue
            self._sio = sio
            delay = self.reconnect_min
            if not first:
                self.reconnects += 1
            await self._recover_all(probe_new=True)
            first = False
            self.connected.set()
            await self._wait_either(gone)
            await self._dispose(sio)
            if not self._stopping:
                log.info("disconnected; reconnecting in %.1fs", delay)
                await self._sleep(delay * (1 + random.random() * 0.2))  # jitter, not security

    @staticmethod
    async def _dispose(sio: socketio.AsyncClient) -> None:
        """Disconnect and close the client's HTTP session (a refused connect leaves it open otherwise)."""
        if sio.connected:
            await sio.disconnect()
        http = getattr(sio.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()

    def _refused_for_good(self) -> bool:
        """The server refuses connections as `{"message": code, "data": {"code", "message", ...}}`."""
        for refusal in self._refused:
            error = refusal.get("data") if isinstance(refusal, dict) else None
            if isinstance(error, dict) and error.get("code") in FATAL_CONNECT_CODES:
                self._fatal = ConnectNowError.from_body({"error": error})
                return True
        return False

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once on `stop()`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _wait_either(self, gone: asyncio.Event) -> None:
        waiter = asyncio.create_task(gone.wait())
        stop = asyncio.create_task(self._stop_event.wait())
        try:
            await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stop.cancel()

    # --- recovery -------------------------------------------------------------------------------------------
    async def _recover_all(self, *, probe_new: bool) -> None:
        """After a (re)connect: sync every tracked channel from its mark; fetch the mark of watched new ones."""
        cursors = [{"kind": kind, "id": cid, "lastEventSeq": st.contiguous}
                   for (kind, cid), st in self.conversations.items()]  # fmt: skip
        if probe_new:
            new = sorted(cid for cid in self.watched if ("channel", cid) not in self.conversations)
            cursors += [{"kind": "channel", "id": cid, "lastEventSeq": PROBE_EVENT_SEQ} for cid in new]
        await self._sync(cursors)

    async def _sync(self, cursors: list[dict[str, Any]]) -> None:
        for start in range(0, len(cursors), SYNC_BATCH):
            batch = cursors[start : start + SYNC_BATCH]
            try:
                results = await self.call("sync", {"conversations": batch})
            except (ConnectNowError, TimeoutError, socketio.exceptions.SocketIOError) as exc:
                log.warning("sync failed (%s); the next reconnect tries again", exc)
                return
            self.recoveries += 1
            asked = {(c["kind"], c["id"]): c["lastEventSeq"] for c in batch}
            for result in results:
                key = (result.get("kind"), result.get("id"))
                self._queue.put_nowait(_Item("recovered", data={**result, "asked": asked.get(key)}))

    async def _apply_recovery(self, result: dict[str, Any]) -> None:
        key = (str(result.get("kind")), str(result.get("id")))
        if result.get("error"):
            log.warning("%s %s is not readable any more: %s", *key, result["error"].get("code"))
            self.conversations.pop(key, None)
            self.watched.discard(key[1])
            return
        probe = result.get("asked") == PROBE_EVENT_SEQ
        latest = int(result.get("latestEventSeq") or 0)
        messages: list[dict[str, Any]] = list(result.get("messages") or [])
        if not result.get("recovered") and result.get("cursor"):
            messages += await self._page(str(result["cursor"]))
        if not probe:
            for data in messages:
                await self._deliver_message(Message.from_wire(data))
        state = self.conversations.setdefault(key, _Channel(contiguous=latest))
        state.contiguous = max(state.contiguous, latest)
        state.ahead = {seq for seq in state.ahead if seq > state.contiguous}
        self._advance(state)

    async def _page(self, cursor: str | None) -> list[dict[str, Any]]:
        """Page a gap `sync` did not recover through the REST cursor, until nextCursor is null."""
        messages: list[dict[str, Any]] = []
        while cursor:
            page = await self.client.sync_page(cursor)
            messages += page.get("messages") or []
            cursor = page.get("nextCursor")
        return messages

    # --- live events, in order of arrival -------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            if item.kind == "stop":
                return
            try:
                if item.kind == "event":
                    await self._apply_event(item.name, item.data)
                elif item.kind == "recovered":
                    await self._apply_recovery(item.data)
                elif item.kind == "hole":
                    await self._check_hole(item.data)
            except ConnectNowError as exc:
                log.warning("recovery failed (%s); the next reconnect tries again", exc)
            except Exception:
                log.exception("a stream handler failed")

    async def _apply_event(self, name: str, data: dict[str, Any]) -> None:
        key: Key = ("dm", str(data.get("conversationId", ""))) if name in DIRECT_EVENTS else (
            "channel", str(data.get("channelId", "")))  # fmt: skip
        event_seq = data.get("eventSeq")
        raw_message = data.get("message")
        message = Message.from_wire(raw_message) if isinstance(raw_message, dict) else None
        if isinstance(event_seq, int) and key[1]:
            self._track(key, event_seq)
        if self.on_event is not None:
            seq = event_seq if isinstance(event_seq, int) else 0
            await self.on_event(ChannelEvent(name, key[0], key[1], seq, message, data))
        if name in NEW_MESSAGE_EVENTS and message is not None:
            await self._deliver_message(message)

    def _track(self, key: Key, event_seq: int) -> None:
        state = self.conversations.get(key)
        if state is None:  # first event of a conversation nobody asked to watch: it is the starting mark
            self.conversations[key] = _Channel(contiguous=event_seq)
            return
        if event_seq <= state.contiguous:
            return
        state.ahead.add(event_seq)
        self._advance(state)
        if state.ahead and key not in self._hole_timers:
            self._hole_timers[key] = asyncio.create_task(self._hole_timer(key))

    @staticmethod
    def _advance(state: _Channel) -> None:
        while state.contiguous + 1 in state.ahead:
            state.contiguous += 1
            state.ahead.discard(state.contiguous)

    async def _hole_timer(self, key: Key) -> None:
        await asyncio.sleep(self.hole_wait)
        self._queue.put_nowait(_Item("hole", data=key))

    async def _check_hole(self, key: Key) -> None:
        self._hole_timers.pop(key, None)
        state = self.conversations.get(key)
        if state is None or not state.ahead or not self.connected.is_set():
            return  # filled meanwhile, or a reconnect will sync anyway
        log.info("%s %s: eventSeq %d missing after %.1fs; syncing", *key, state.contiguous + 1, self.hole_wait)
        await self._sync([{"kind": key[0], "id": key[1], "lastEventSeq": state.contiguous}])

    async def _deliver_message(self, message: Message) -> None:
        if message.is_deleted or message.id in self._seen:
            return
        self._seen[message.id] = None
        if len(self._seen) > SEEN_MESSAGES:
            self._seen.popitem(last=False)
        if self.on_message is not None:
            await self.on_message(message)
