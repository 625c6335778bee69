"""Gap-free recovery: on reconnect a client sends its last seen eventSeq per conversation and gets, from the
database (the source of truth), every message created or changed since, in order of change; past the bound
(`CONNECTNOW_SYNC_MAX_MESSAGES`) it gets `recovered: false`, the gap's range and a REST cursor instead.

Every conversation event (message create, edit, delete, reaction, pin) stamps the message with the
conversation's next eventSeq (connectnow/repositories/message_log.py), so "lastEventSeq > N" is exactly what
a client that saw event N has missed, whichever worker or broker path the live events took.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from connectnow import errors
from connectnow.errors import AppError
from connectnow.metrics import Metrics
from connectnow.repositories.message_log import MessageLog
from connectnow.services.auth import Principal
from connectnow.services.chat_access import ChatAccess
from connectnow.services.direct import DirectService
from connectnow.services.messages import MessageService
from models.direct import DirectMessagePublic
from models.sync import ConversationKind, SyncCursor, SyncGap, SyncPage, SyncRequest, SyncResult

PAGE_LIMIT = 100


@dataclass(frozen=True)
class Source:
    log: MessageLog[Any]
    ensure_readable: Callable[[Principal, str], Awaitable[None]]
    public: Callable[[list[Any]], Awaitable[list[Any]]]


class SyncService:
    def __init__(
        self, chat: ChatAccess, messages: MessageService, direct: DirectService, metrics: Metrics, max_messages: int
    ) -> None:
        self.metrics = metrics
        self.max_messages = max_messages

        async def channel_readable(principal: Principal, channel_id: str) -> None:
            if not await chat.can_read_channel(channel_id, principal.user_id):
                raise AppError(errors.NOT_FOUND, "No such channel, or you may not read it")

        async def dm_readable(principal: Principal, conversation_id: str) -> None:
            await direct.conversation(principal, conversation_id)

        async def dm_public(rows: list[Any]) -> list[Any]:
            return [DirectMessagePublic.model_validate(r, from_attributes=True) for r in rows]

        self.sources: dict[str, Source] = {
            "channel": Source(messages.log, channel_readable, messages.public),
            "dm": Source(direct.log, dm_readable, dm_public),
        }

    async def sync(self, principal: Principal, data: SyncRequest) -> list[SyncResult]:
        return [await self._one(principal, cursor) for cursor in data.conversations]

    async def _one(self, principal: Principal, cursor: SyncCursor) -> SyncResult:
        source = self.sources[cursor.kind]
        try:
            await source.ensure_readable(principal, cursor.id)
        except AppError as exc:
            return SyncResult(kind=cursor.kind, id=cursor.id, recovered=False, latest_event_seq=0,
                              error=exc.body()["error"])  # fmt: skip
        _, latest = await source.log.counters.current(cursor.id)
        rows = await source.log.changed_since(cursor.id, cursor.last_event_seq, limit=self.max_messages + 1)
        if len(rows) > self.max_messages:
            self.metrics.recovery.labels("miss").inc()
            return SyncResult(
                kind=cursor.kind,
                id=cursor.id,
                recovered=False,
                latest_event_seq=latest,
                gap=SyncGap(from_event_seq=cursor.last_event_seq + 1, to_event_seq=latest),
                cursor=self.cursor_url(cursor.kind, cursor.id, cursor.last_event_seq),
            )
        self.metrics.recovery.labels("hit").inc()
        return SyncResult(
            kind=cursor.kind, id=cursor.id, recovered=True, latest_event_seq=latest, messages=await source.public(rows)
        )

    @staticmethod
    def cursor_url(kind: ConversationKind, conversation_id: str, after: int) -> str:
        return f"/api/v1/sync/{kind}/{conversation_id}?afterEventSeq={after}"

    async def page(
        self, principal: Principal, kind: ConversationKind, conversation_id: str, after: int, limit: int
    ) -> SyncPage:
        """One page of the changes after `after`, for a client that was told `recovered: false`."""
        source = self.sources[kind]
        await source.ensure_readable(principal, conversation_id)
        limit = max(1, min(limit, PAGE_LIMIT))
        _, latest = await source.log.counters.current(conversation_id)
        rows = await source.log.changed_since(conversation_id, after, limit=limit)
        last = rows[-1].last_event_seq if rows else after
        more = len(rows) == limit and last < latest
        return SyncPage(
            kind=kind,
            id=conversation_id,
            messages=await source.public(rows),
            next_cursor=self.cursor_url(kind, conversation_id, last) if more else None,
            latest_event_seq=latest,
        )
