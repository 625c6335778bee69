"""Read state for channels: mark read up to a message, unread and mention counts, read receipts.

A member's pointer (lastReadSeq, lastReadMessageId, lastReadAt) only moves forward, with a conditional
update, so two devices marking read out of order never move it back. Receipts are derived from the pointers.
"""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.services.auth import Principal
from connectnow.services.chat_access import channel_room
from connectnow.services.messages import MessageService
from connectnow.services.notify import badge
from models.messages import MarkRead, ReadReceipt, UnreadCount


class ReadStateService:
    def __init__(self, messages: MessageService) -> None:
        self.messages = messages
        self.access = messages.access

    async def mark_read(self, principal: Principal, data: MarkRead) -> ReadReceipt:
        access = await self.access.channel(data.channel_id, principal.user_id)
        if access.channel_member is None:
            raise AppError(errors.NOT_A_MEMBER, "Join the channel to keep read state")
        record = await self.messages.log.get(data.message_id, data.channel_id)
        if record is None or record.seq is None:
            raise AppError(errors.NOT_FOUND, "No such message in this channel")
        now = utcnow()
        moved = await self.access.channel_members.advance_read(
            data.channel_id, principal.user_id, record.seq, record.id, now
        )
        member = moved or await self.access.channel_members.of(data.channel_id, principal.user_id)
        assert member is not None
        receipt = ReadReceipt.model_validate(member, from_attributes=True)
        if moved is not None:
            body = {"channelId": data.channel_id, **receipt.model_dump(mode="json", by_alias=True, exclude_none=True)}
            await self.messages.hub.emit("channel:read", body, room=channel_room(data.channel_id))
        return receipt

    async def unread(self, principal: Principal, workspace_id: str) -> list[UnreadCount]:
        """Unread messages (by others, not deleted) and unread mentions per joined channel, and the badge to
        show after mutes and notify levels: a fixed number of queries per workspace, however many channels."""
        await self.access.membership(workspace_id, principal.user_id)
        joined = await self.access.channel_members.for_user(principal.user_id, workspace_id)
        if not joined:
            return []
        log = self.messages.log
        latest = await log.counters.current_many([cm.channel_id for cm in joined])
        read_up_to = {cm.channel_id: cm.last_read_seq for cm in joined}
        unread = await log.unseen_counts(read_up_to, principal.user_id)
        mentions = await log.unseen_counts(read_up_to, principal.user_id, mentioning=True)
        return [
            UnreadCount(
                channel_id=cm.channel_id,
                unread=unread.get(cm.channel_id, 0),
                mentions=mentions.get(cm.channel_id, 0),
                badge=badge(cm, unread.get(cm.channel_id, 0), mentions.get(cm.channel_id, 0)),
                is_muted=cm.is_muted,
                notify=cm.notify.value,
                last_seq=latest.get(cm.channel_id, (0, 0))[0],
                last_read_seq=cm.last_read_seq,
            )
            for cm in joined
        ]

    async def receipts(self, principal: Principal, message_id: str) -> list[ReadReceipt]:
        """Who has read up to (at least) this message."""
        record, _ = await self.messages.message_in_readable(principal, message_id)
        members = await self.access.channel_members.read_at_least(record.channel_id, record.seq or 0)
        return [ReadReceipt.model_validate(m, from_attributes=True) for m in members]
