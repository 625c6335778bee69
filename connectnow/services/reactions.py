"""Reactions (unique per message, user and emoji) and full-text search over readable channels."""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.services.auth import Principal
from connectnow.services.chat_access import channel_room
from connectnow.services.messages import MessageService, envelope
from connectnow.services.policy import Action
from models.messages import MessagePublic, MessageRecord, ReactionIn, ReactionRecord, ReactionSummary, SearchQuery


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
        summaries = (await self.repo.summaries([record.id])).get(record.id, [])
        body = envelope(record, emoji=emoji, userId=user_id, reactions=summaries)
        await self.messages.hub.emit(event, body, room=channel_room(record.channel_id))
        return summaries

    async def _current(self, record: MessageRecord) -> list[ReactionSummary]:
        return (await self.repo.summaries([record.id])).get(record.id, [])

    async def add(self, principal: Principal, data: ReactionIn) -> list[ReactionSummary]:
        record = await self._target(principal, data.message_id)
        await self.messages.hit_limit(principal, "react")
        key = {"messageId": record.id, "userId": principal.user_id, "emoji": data.emoji}
        log = self.messages.log
        # One step: the check, the message's new eventSeq and the reaction are stored together or not at
        # all, and an existing reaction (a replay) takes no number.
        async with log.step(record.channel_id) as step:
            if await self.repo.find_one(key) is not None:
                return await self._current(record)
            stamped = await log.stamp(step, record.id)
            if stamped is None:
                raise AppError(errors.MESSAGE_DELETED)
            reaction = ReactionRecord(
                id=new_id(), message_id=record.id, channel_id=record.channel_id, user_id=principal.user_id,
                emoji=data.emoji, created_at=utcnow(),
            )  # fmt: skip
            await self.repo.insert(reaction)
        return await self._announce("reaction:added", stamped, data.emoji, principal.user_id)

    async def remove(self, principal: Principal, data: ReactionIn) -> list[ReactionSummary]:
        record = await self._target(principal, data.message_id)
        log = self.messages.log
        async with log.step(record.channel_id) as step:
            key = {"messageId": record.id, "userId": principal.user_id, "emoji": data.emoji}
            if await self.repo.find_one(key) is None:
                return await self._current(record)
            stamped = await log.stamp(step, record.id)
            if stamped is None:
                raise AppError(errors.MESSAGE_DELETED)
            await self.repo.remove(record.id, principal.user_id, data.emoji)
        return await self._announce("reaction:removed", stamped, data.emoji, principal.user_id)

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
        found = await self.messages.log.search(readable, query.query, limit=query.limit)
        return await self.messages.public(found)
