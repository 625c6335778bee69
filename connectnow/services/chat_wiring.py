"""Builds the chat-core services and hands them to the node's `Services`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectnow.config import Settings
from connectnow.realtime.ratelimit import RateLimiter
from connectnow.services.channels import ChannelService
from connectnow.services.chat_access import ChatAccess, Emitter
from connectnow.services.messages import AttachmentClaimer, MessageService
from connectnow.services.notify import StatusReader
from connectnow.services.reactions import ReactionService, SearchService
from connectnow.services.read_state import ReadStateService
from connectnow.services.workspaces import WorkspaceService
from connectnow.store.port import DocumentStore

if TYPE_CHECKING:
    from connectnow.node import Services
    from connectnow.services.presence import PresenceService


def presence_statuses(presence: PresenceService) -> StatusReader:
    """Who is ONLINE, AWAY, BUSY or OFFLINE now, for @here / @channel (one read of the presence backend)."""

    async def read(user_ids: list[str]) -> dict[str, str]:
        states = await presence.backend.get_states(user_ids)
        return {uid: presence.decode(uid, states.get(uid)).status for uid in user_ids}

    return read


def wire_chat(
    services: Services,
    store: DocumentStore,
    settings: Settings,
    hub: Emitter,
    limiter: RateLimiter | None,
    attachments: AttachmentClaimer | None = None,
) -> None:
    access = ChatAccess(store)
    listeners = getattr(hub, "op_listeners", None)
    if listeners is not None:  # membership events flush cached access on every worker
        listeners.append(access.on_hub_op)
    messages = MessageService(store, access, hub, max_chars=settings.message_max_chars, limiter=limiter)
    messages.attachments = attachments
    register = getattr(attachments, "register_reader", None)
    if register is not None:
        from models.attachments import ConversationKind

        register(ConversationKind.CHANNEL, messages.can_read_message)
    channels = ChannelService(access, hub, messages)
    services.chat = access
    services.messages = messages
    services.channels = channels
    services.workspaces = WorkspaceService(access, hub, channels)
    services.reactions = ReactionService(messages)
    services.search = SearchService(messages)
    services.read_state = ReadStateService(messages)
