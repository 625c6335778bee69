"""In-app delivery through the chat core: a scheduled message becomes a real chat message.

The message is posted with the chat core's own services, as the user who scheduled it, so every rule
applies at delivery time as it would to a live send (membership, archived channels, roles, content limits,
rate limits), and the message is stored and fanned out like any other. The delivery id is the message's
`clientMsgId`, so a delivery retried after a lost answer or a lease takeover is stored once.
"""

from __future__ import annotations

from typing import Protocol

from connectnow import errors
from connectnow.errors import AppError
from connectnow.repositories.accounts import UserRepository
from connectnow.services.auth import Principal, ensure_user_allowed
from connectnow.services.broadcasts.transports import DeliveryFailed
from connectnow.services.chat_access import ChannelAccess, ChatAccess
from connectnow.services.policy import Action
from connectnow.store.port import DocumentStore
from models.broadcasts import TargetKind
from models.direct import DirectPost
from models.messages import MessageSend


class ChannelMessages(Protocol):
    """The part of the chat core's MessageService that in-app delivery uses."""

    @property
    def access(self) -> ChatAccess: ...

    def writable(self, access: ChannelAccess, action: Action) -> None: ...

    async def send(self, principal: Principal, data: MessageSend) -> object: ...


class DirectMessages(Protocol):
    async def conversation(self, principal: Principal, conversation_id: str) -> object: ...

    async def post(
        self, principal: Principal, conversation_id: str, data: DirectPost, *, client_msg_id: str | None = None
    ) -> object: ...


class ChatCorePoster:
    def __init__(self, store: DocumentStore, messages: ChannelMessages, direct: DirectMessages | None) -> None:
        self.users = UserRepository(store)
        self.messages = messages
        self.direct = direct

    async def _principal(self, user_id: str) -> Principal:
        user = await self.users.get(user_id)
        if user is None:
            raise AppError(errors.NOT_FOUND, "The scheduling user no longer exists")
        ensure_user_allowed(user)  # a banned or disabled user's scheduled messages are not posted
        return Principal(user=user)

    async def check_can_post(self, user_id: str, kind: TargetKind, conversation_id: str) -> None:
        """Refuse at scheduling time what would be refused at delivery time (foreign ids read as unknown)."""
        principal = await self._principal(user_id)
        if kind is TargetKind.CHANNEL:
            access = await self.messages.access.channel(conversation_id, user_id)
            self.messages.writable(access, Action.MESSAGE_SEND)
            return
        if self.direct is None:
            raise AppError(errors.IN_APP_UNAVAILABLE, "Direct conversations are not available")
        await self.direct.conversation(principal, conversation_id)

    async def post_scheduled(
        self, user_id: str, kind: TargetKind, conversation_id: str, text: str, idempotency_key: str
    ) -> None:
        try:
            principal = await self._principal(user_id)
            if kind is TargetKind.CHANNEL:
                data = MessageSend.model_validate(
                    {"channelId": conversation_id, "content": text, "clientMsgId": f"sched-{idempotency_key}"}
                )
                await self.messages.send(principal, data)
            elif self.direct is not None:
                post = DirectPost.model_validate({"content": text})
                await self.direct.post(principal, conversation_id, post, client_msg_id=f"sched-{idempotency_key}")
            else:
                raise DeliveryFailed("direct conversations are not available", retryable=False)
        except AppError as exc:
            # Rate limits and outages pass; a lost membership or a deleted channel will not.
            raise DeliveryFailed(f"{exc.code}: {exc.message}", retryable=exc.error.retryable) from None
