"""Reactions (unique per message, user and emoji) and full-text search over readable channels."""

from __future__ import annotations

from typing import Protocol, cast

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.services.auth import Principal
from connectnow.services.chat_access import channel_room
from connectnow.services.messages import MessageService, envelope
from connectnow.services.policy import Action
from connectnow.store.port import Document, DuplicateKeyError, Filter
from models.messages import MessagePublic, MessageRecord, ReactionIn, ReactionRecord, ReactionSummary, SearchQuery


class TextSearchable(Protocol):
    async def text_search(self, text: str, flt: Filter, *, limit: int = 50) -> list[Document]: ...


class ReactionService:
    def __init__(self, messages: MessageService) -> None:
        self.messages = messages
        self.repo = messages.reactions

    async def _target(self, principal: Principal, message_id: str) -> MessageRecord:
        record, access = await self.messages.message_in_readable(principal, message_id)
        self.messages.writable(access, Action.MESSAGE_REACT)
        if record.is_deleted:
            raise AppError(errors.MESSAGE_DELETED)
        return record

    async def _announce(self, event: str, record: MessageRecord, emoji: str, user_id: str) -> list[ReactionSummary]:
        stamped = await self.messages.log.mutate(record.id, record.channel_id, {"$set": {}})
        stamped = stamped or record
        summaries = (await self.repo.summaries([record.id])).get(record.id, [])
        body = envelope(stamped, emoji=emoji, userId=user_id, reactions=summaries)
        await self.messages.hub.emit(event, body, room=channel_room(record.channel_id))
        return summaries

    async def add(self, principal: Principal, data: ReactionIn) -> list[ReactionSummary]:
        record = await self._target(principal, data.message_id)
        await self.messages._hit(principal, "react")
        reaction = ReactionRecord(
            id=new_id(),
            message_id=record.id,
            channel_id=record.channel_id,
            user_id=principal.user_id,
            emoji=data.emoji,
            created_at=utcnow(),
        )
        try:
            await self.repo.insert(reaction)
        except DuplicateKeyError:  # already reacted: idempotent, no second event
            return (await self.repo.summaries([record.id])).get(record.id, [])
        return await self._announce("reaction:added", record, data.emoji, principal.user_id)

    async def remove(self, principal: Principal, data: ReactionIn) -> list[ReactionSummary]:
        record = await self._target(principal, data.message_id)
        if not await self.repo.remove(record.id, principal.user_id, data.emoji):
            return (await self.repo.summaries([record.id])).get(record.id, [])
        return await self._announce("reaction:removed", record, data.emoji, principal.user_id)

    async def summary(self, principal: Principal, message_id: str) -> list[ReactionSummary]:
        record, _ = await self.messages.message_in_readable(principal, message_id)
        return (await self.repo.summaries([record.id])).get(record.id, [])


class SearchService:
    def __init__(self, messages: MessageService) -> None:
        self.messages = messages

    async def search(self, principal: Principal, query: SearchQuery) -> list[MessagePublic]:
        """Messages matching any word, best first, only from channels the caller may read now."""
        await self.messages.access.membership(query.workspace_id, principal.user_id)
        readable = [c.id for c in await self.messages.access.readable_channels(principal.user_id, [query.workspace_id])]
        if query.channel_id is not None:
            if query.channel_id not in readable:
                raise AppError(errors.NOT_FOUND, "No such channel")
            readable = [query.channel_id]
        if not readable:
            return []
        coll = cast(TextSearchable, self.messages.log.repo.coll)
        flt = {"channelId": {"$in": readable}, "isDeleted": False, "seq": {"$exists": True}}
        docs = await coll.text_search(query.query, flt, limit=query.limit)
        return await self.messages.public([MessageRecord.model_validate(d) for d in docs])
