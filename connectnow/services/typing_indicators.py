"""Typing indicators: `typing:start` / `typing:stop` for a channel or a direct conversation.

- Only someone who may post in the conversation may type there; the indicator goes to the conversation's
  OTHER members only (never back to the typist's own sockets).
- Throttled: clients may call start on every keystroke; while an indicator is live a start only extends it,
  and `typing:started` is re-sent at most once per half expiry, so receivers' timers never run out early.
  Starts that do emit spend a token of the `typing` rate rule.
- Expires by itself: without a fresh start within `typing_expiry_seconds`, the server sends
  `typing:stopped` with reason "expired" (a closed laptop never leaves "Alice is typing..." behind).
  Sending a direct message ends the sender's indicator there at once (reason "sent").

Indicators live in this worker's memory: they are seconds-long and losing them on restart is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connectnow import errors
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.ratelimit import RateLimiter
from connectnow.realtime.tasks import stop_task
from connectnow.repositories.direct import DirectConversationRepository
from connectnow.services.auth import Principal
from models.direct import TypingEvent, TypingIn

if TYPE_CHECKING:
    from connectnow.services.chat_access import ChatAccess
    from connectnow.services.messages import MessageService


# (principal, channel id) -> the channel room; raises AppError when the caller may not post there.
ChannelGate = Callable[[Principal, str], Awaitable[str]]
# (principal, conversation id) -> the conversation's room; raises AppError when not a member.
DirectGate = Callable[[Principal, str], Awaitable[str]]

Key = tuple[str, str, str]  # (kind, conversation id, user id)


@dataclass
class _Indicator:
    room: str
    event: TypingEvent
    deadline: float  # loop time
    last_sent: float
    task: asyncio.Task[None] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class _Target:
    key: Key
    room: str
    event: TypingEvent


class TypingService:
    def __init__(
        self,
        hub: Emitter,
        limiter: RateLimiter,
        channel_gate: ChannelGate,
        direct_gate: DirectGate,
        *,
        expiry_secs: float,
    ) -> None:
        self.hub = hub
        self.limiter = limiter
        self.channel_gate = channel_gate
        self.direct_gate = direct_gate
        self.expiry_secs = expiry_secs
        self._live: dict[Key, _Indicator] = {}

    @property
    def resend_after_secs(self) -> float:
        return self.expiry_secs / 2

    async def start_typing(self, principal: Principal, data: TypingIn) -> dict[str, float]:
        target = await self._target(principal, data)
        now = asyncio.get_running_loop().time()
        live = self._live.get(target.key)
        if live is not None and now - live.last_sent < self.resend_after_secs:
            live.deadline = now + self.expiry_secs  # throttled: extend quietly
            return {"expiresIn": self.expiry_secs}
        await self.limiter.hit(principal.user_id, self.limiter.rules.typing)
        started = target.event.model_copy(update={"expires_in": self.expiry_secs})
        await self.hub.emit("typing:started", started, room=target.room, skip_user=principal.user_id)
        if live is not None:
            live.deadline, live.last_sent = now + self.expiry_secs, now
        else:
            live = _Indicator(target.room, target.event, now + self.expiry_secs, now)
            self._live[target.key] = live
            # Keep a reference: an unreferenced task can be garbage-collected mid-run.
            live.task = asyncio.create_task(self._expire(target.key, live), name="typing-expiry")
        return {"expiresIn": self.expiry_secs}

    async def stop_typing(self, principal: Principal, data: TypingIn) -> dict[str, bool]:
        target = await self._target(principal, data)
        live = self._live.pop(target.key, None)
        if live is None:
            return {"stopped": False}
        if live.task is not None and live.task is not asyncio.current_task():
            live.task.cancel()
        await self._send_stopped(live, principal.user_id, "stopped")
        return {"stopped": True}

    async def direct_message_sent(self, user_id: str, conversation_id: str) -> None:
        """A sent message ends its sender's indicator at once (reason "sent"), not after the expiry."""
        live = self._live.pop(("direct", conversation_id, user_id), None)
        if live is not None:
            if live.task is not None:
                live.task.cancel()
            await self._send_stopped(live, user_id, "sent")

    async def _expire(self, key: Key, live: _Indicator) -> None:
        loop = asyncio.get_running_loop()
        # Starts move the deadline forward while we sleep: sleep again until it stops moving.
        while True:
            remaining = live.deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)
        if self._live.get(key) is live:
            del self._live[key]
            await self._send_stopped(live, key[2], "expired")

    async def _send_stopped(self, live: _Indicator, user_id: str, reason: str) -> None:
        stopped = live.event.model_copy(update={"reason": reason})
        await self.hub.emit("typing:stopped", stopped, room=live.room, skip_user=user_id)

    async def _target(self, principal: Principal, data: TypingIn) -> _Target:
        user = principal.user
        if data.channel_id is not None:
            room = await self.channel_gate(principal, data.channel_id)
            event = TypingEvent(channel_id=data.channel_id, user_id=user.id, username=user.username)
            return _Target(("channel", data.channel_id, user.id), room, event)
        assert data.conversation_id is not None
        room = await self.direct_gate(principal, data.conversation_id)
        event = TypingEvent(conversation_id=data.conversation_id, user_id=user.id, username=user.username)
        return _Target(("direct", data.conversation_id, user.id), room, event)

    def live_count(self) -> int:
        return len(self._live)

    # --- lifecycle (a background worker of the node) -------------------------------------------------------
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        tasks = [live.task for live in self._live.values() if live.task is not None]
        self._live.clear()
        for task in tasks:
            await stop_task(task)


def channel_gate(chat: ChatAccess, messages: MessageService) -> ChannelGate:
    """Typing in a channel needs what posting needs: membership, a role that may send, not archived."""
    from connectnow.services.chat_access import channel_room
    from connectnow.services.policy import Action

    async def gate(principal: Principal, channel_id: str) -> str:
        access = await chat.channel(channel_id, principal.user_id)
        messages.writable(access, Action.MESSAGE_SEND)
        return channel_room(channel_id)

    return gate


def direct_gate(conversations: DirectConversationRepository) -> DirectGate:
    """Typing in a direct conversation needs membership of it; the indicator goes to the other member.
    Built on the repository, not DirectService, because DirectService is built after this service (it ends
    the sender's indicator when a message is sent)."""
    from connectnow.services.direct import dm_room

    async def gate(principal: Principal, conversation_id: str) -> str:
        record = await conversations.get(conversation_id)
        if record is None or not record.has(principal.user_id):
            raise AppError(errors.NOT_FOUND, "No such conversation")
        return dm_room(record.id)

    return gate
