"""Reactions and pins in direct conversations, as in channels.

Either member may react and pin; a block between them stops new reactions (like new messages) but not
unpinning or removing one's own reaction. Each change is one step of the conversation's message log, so it
carries a fresh `eventSeq` like every other event of the conversation (docs/PROTOCOL.md "Event streams").
"""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.messages import ReactionRepository
from connectnow.services.auth import Principal
from connectnow.services.direct import DirectService, dm_envelope, dm_room
from connectnow.store.port import DocumentStore
from models.direct import DirectConversationRecord, DirectMessagePublic, DirectMessageRecord
from models.messages import ReactionIn, ReactionRecord, ReactionSummary


class DirectReactionRepository(ReactionRepository):
    """Same shape as channel reactions; `channel_id` holds the conversation id."""

    collection_name = "direct_message_reactions"


class DirectExtrasService:
    def __init__(self, store: DocumentStore, direct: DirectService) -> None:
        self.direct = direct
        self.log = direct.log
        self.reactions = DirectReactionRepository(store)

    async def _live(
        self, principal: Principal, message_id: str
    ) -> tuple[DirectMessageRecord, DirectConversationRecord]:
        record, conversation = await self.direct._readable_message(principal.user_id, message_id)
        if record.is_deleted:
            raise AppError(errors.MESSAGE_DELETED)
        return record, conversation

    # --- reactions ---------------------------------------------------------------------------------------
    async def react(self, principal: Principal, data: ReactionIn, *, add: bool) -> list[ReactionSummary]:
        record, conversation = await self._live(principal, data.message_id)
        if add:
            if self.direct.gate is not None:
                await self.direct.gate.may_send(principal.user_id, conversation.other(principal.user_id))
            await self.direct.limiter.hit(principal.user_id, self.direct.limiter.rules.react)
        key = {"messageId": record.id, "userId": principal.user_id, "emoji": data.emoji}
        # One step: the check, the message's new eventSeq and the reaction change are stored together.
        async with self.log.step(conversation.id) as step:
            exists = await self.reactions.find_one(key) is not None
            if exists == add:  # already in that state: answer it, take no number
                return await self.summary(principal, record.id)
            stamped = await self.log.stamp(step, record.id)
            if stamped is None:
                raise AppError(errors.MESSAGE_DELETED)
            if add:
                await self.reactions.insert(
                    ReactionRecord(
                        id=new_id(),
                        message_id=record.id,
                        channel_id=conversation.id,
                        user_id=principal.user_id,
                        emoji=data.emoji,
                        created_at=utcnow(),
                    )
                )
            else:
                await self.reactions.remove(record.id, principal.user_id, data.emoji)
        summaries = (await self.reactions.summaries([record.id])).get(record.id, [])
        event = "dm:reaction:added" if add else "dm:reaction:removed"
        body = dm_envelope(stamped, emoji=data.emoji, userId=principal.user_id, reactions=summaries)
        await self.direct.hub.emit(event, body, room=dm_room(conversation.id))
        return summaries

    async def summary(self, principal: Principal, message_id: str) -> list[ReactionSummary]:
        record, _ = await self.direct._readable_message(principal.user_id, message_id)
        return (await self.reactions.summaries([record.id])).get(record.id, [])

    # --- pins --------------------------------------------------------------------------------------------
    async def set_pinned(self, principal: Principal, message_id: str, pinned: bool) -> DirectMessagePublic:
        record, conversation = await self._live(principal, message_id)
        by = principal.user_id if pinned else None
        changed = await self.log.set_pin(record.id, conversation.id, by=by, at=utcnow())
        if changed is None:  # already in that state
            return DirectMessagePublic.model_validate(record, from_attributes=True)
        event = "dm:message:pinned" if pinned else "dm:message:unpinned"
        await self.direct.hub.emit(event, dm_envelope(changed), room=dm_room(conversation.id))
        return DirectMessagePublic.model_validate(changed, from_attributes=True)

    async def pins(self, principal: Principal, conversation_id: str) -> list[DirectMessagePublic]:
        conversation = await self.direct.conversation(principal, conversation_id)
        rows = await self.direct.messages.find(
            {"conversationId": conversation.id, "isPinned": True, "isDeleted": False},
            sort=[("pinnedAt", -1)],
            limit=100,
        )
        return [DirectMessagePublic.model_validate(r, from_attributes=True) for r in rows]
