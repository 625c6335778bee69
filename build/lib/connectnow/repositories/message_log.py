"""The message engine: sequencing, idempotency, optimistic edits, soft deletes, event stamps.

Generic over a "conversation" so channel messages and direct messages share one implementation.

How to reuse it (e.g. for direct messages)::

    log = MessageLog(store, DirectMessageRecord, collection="direct_messages",
                     conversation_field="conversationId", scope="dm")
    record, created = await log.append(conversation_id, sender_id, client_msg_id, build)
    # `build(seq, event_seq, dedupe_key)` returns the full record to store (seq/event stamps included).
    record = await log.edit(message_id, conversation_id, expected_version, {"content": "..."})
    record = await log.soft_delete(message_id, conversation_id, {"content": ""})
    record = await log.mutate(message_id, conversation_id, {"$set": {"isPinned": True}})
    page = await log.page(conversation_id, before=..., after=..., around=..., limit=50)
    changed = await log.changed_since(conversation_id, event_seq)   # for gap-free sync

The record model needs the fields: id, seq (int | None), last_event_seq, version, dedupe_key, is_deleted,
is_edited, edited_at, deleted_at, updated_at. Your migration adds the collection, a unique index on
`dedupeKey`, and (conversation_field, seq) / (conversation_field, lastEventSeq) indexes. Counters live in the
shared `conversation_counters` collection under the id `{scope}:{conversationId}`.

Guarantees (on both adapters, every write single-document atomic):
- `seq` is gap-free and increasing per conversation. The message is inserted first (its unique dedupeKey
  decides the one winner among concurrent replays), and only the winner takes a number from the counter, so
  a refused duplicate never burns a seq. A message is invisible to `page` until its seq is set.
- `eventSeq` increases on every mutation of any message of the conversation (create, edit, delete,
  reaction, pin); the message keeps the latest as `lastEventSeq`, so "everything with lastEventSeq > N"
  is what a client that saw event N has missed. eventSeq may skip numbers (a refused stale edit burns one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.repositories.base import Repository
from connectnow.store.port import DocumentStore, DuplicateKeyError, Filter
from models.base import StoredModel

M = TypeVar("M", bound=StoredModel)
COUNTERS = "conversation_counters"
MAX_PAGE = 100  # messages per history page, at most
# A replay that finds the original still without its seq waits this long for the winner to finish.
SEQ_WAIT_SECONDS = 3.0
SEQ_POLL_SECONDS = 0.01

Builder = Callable[[int, int, str], M] | Callable[[int, int, str], Awaitable[M]]


def check_content(content: str, max_chars: int, *, is_system: bool) -> None:
    """The content rules every conversation shares: no client-written SYSTEM messages, a length limit."""
    if is_system:
        raise AppError(errors.VALIDATION_FAILED, "SYSTEM messages are written by the server only")
    if len(content) > max_chars:
        raise AppError(
            errors.PAYLOAD_TOO_LARGE,
            f"Messages may be at most {max_chars} characters long",
            details={"maxChars": max_chars},
        )


def dedupe_key(conversation_id: str, sender_id: str, client_msg_id: str) -> str:
    return f"{conversation_id}:{sender_id}:{client_msg_id}"


def contiguous(rows: list[M], after: int) -> list[M]:
    """The run of rows numbered after+1, after+2, ... up to the first hole.

    Two concurrent senders may set their seqs out of order (6 stored before 5): a catch-up page that handed
    out 6 would make the client skip 5 for ever. A hole is always a send in flight, so stop before it."""
    out: list[M] = []
    expected = after + 1
    for row in rows:
        if getattr(row, "seq", None) != expected:
            break
        out.append(row)
        expected += 1
    return out


class Counters:
    """Per-conversation counters: `seq` (messages) and `eventSeq` (every mutation)."""

    def __init__(self, store: DocumentStore, scope: str) -> None:
        self.coll = store.collection(COUNTERS)
        self.scope = scope

    def _id(self, conversation_id: str) -> str:
        return f"{self.scope}:{conversation_id}"

    async def take(self, conversation_id: str, *, seq: bool) -> tuple[int, int]:
        """Atomically take the next eventSeq (and the next seq when `seq`): returns (seq or 0, eventSeq)."""
        inc = {"eventSeq": 1, **({"seq": 1} if seq else {})}
        doc = await self.coll.find_one_and_update(
            {"id": self._id(conversation_id)}, {"$inc": inc}, upsert=True, return_new=True
        )
        assert doc is not None
        return (int(doc.get("seq", 0)) if seq else 0), int(doc["eventSeq"])

    async def current(self, conversation_id: str) -> tuple[int, int]:
        doc = await self.coll.find_one({"id": self._id(conversation_id)})
        return (int(doc.get("seq", 0)), int(doc.get("eventSeq", 0))) if doc else (0, 0)


class MessageLog(Generic[M]):
    def __init__(
        self,
        store: DocumentStore,
        model: type[M],
        *,
        collection: str,
        conversation_field: str,
        scope: str,
    ) -> None:
        repo_cls = type(f"{model.__name__}Repo", (Repository,), {"collection_name": collection, "model": model})
        self.repo: Repository[M] = repo_cls(store)
        self.field = conversation_field
        self.counters = Counters(store, scope)

    # --- create ----------------------------------------------------------------------------------------
    async def append(
        self, conversation_id: str, sender_id: str, client_msg_id: str, build: Builder[M]
    ) -> tuple[M, bool]:
        """Store a message once per (conversation, sender, clientMsgId). Returns (message, created)."""
        key = dedupe_key(conversation_id, sender_id, client_msg_id)
        existing = await self.repo.find_one({"dedupeKey": key})
        if existing is not None:
            return await self._settled(existing), False
        made = build(0, 0, key)
        record: M = await made if isinstance(made, Awaitable) else made
        doc = record.to_doc()
        doc.pop("seq", None)
        doc.pop("lastEventSeq", None)
        try:
            await self.repo.coll.insert_one(doc)
        except DuplicateKeyError as exc:
            if exc.index != "ux_messages_dedupe" and not (exc.index or "").endswith("_dedupe"):
                raise
            return await self._settled(await self._original(key)), False
        seq, event_seq = await self.counters.take(conversation_id, seq=True)
        stored = await self.repo.update({"id": record.id}, {"$set": {"seq": seq}, "$max": {"lastEventSeq": event_seq}})
        assert stored is not None
        return stored, True

    async def _original(self, key: str) -> M:
        """The winner of a dedupeKey race. A store may report the collision before its reads can see the
        winner's row (a write still being committed), so look again for a moment."""
        deadline = asyncio.get_running_loop().time() + SEQ_WAIT_SECONDS
        while (original := await self.repo.find_one({"dedupeKey": key})) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise AppError(errors.UNAVAILABLE, "The original message is still being stored; retry")
            await asyncio.sleep(SEQ_POLL_SECONDS)
        return original

    async def _settled(self, record: M) -> M:
        """The original of a replay, once its winner has set its seq."""
        deadline = asyncio.get_running_loop().time() + SEQ_WAIT_SECONDS
        while getattr(record, "seq", None) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise AppError(errors.UNAVAILABLE, "The original message is still being stored; retry")
            await asyncio.sleep(SEQ_POLL_SECONDS)
            again = await self.repo.get(record.id)
            if again is None:
                raise AppError(errors.NOT_FOUND)
            record = again
        return record

    # --- mutate ----------------------------------------------------------------------------------------
    async def mutate(
        self, message_id: str, conversation_id: str, update: dict[str, Any], *, when: Filter | None = None
    ) -> M | None:
        """Apply `update` to a live (sequenced) message and stamp a fresh eventSeq; None if nothing matched."""
        _, event_seq = await self.counters.take(conversation_id, seq=False)
        full: dict[str, Any] = {op: dict(fields) for op, fields in update.items()}
        full.setdefault("$max", {})["lastEventSeq"] = event_seq
        full.setdefault("$set", {}).setdefault("updatedAt", utcnow())
        flt = {"id": message_id, self.field: conversation_id, "seq": {"$exists": True}, **(when or {})}
        return await self.repo.update(flt, full)

    async def edit(self, message_id: str, conversation_id: str, expected_version: int, fields: dict[str, Any]) -> M:
        """Optimistic edit: succeeds only at `expected_version`; a stale one raises VERSION_CONFLICT."""
        now = utcnow()
        update = {"$set": {**fields, "isEdited": True, "editedAt": now, "updatedAt": now}, "$inc": {"version": 1}}
        done = await self.mutate(
            message_id, conversation_id, update, when={"version": expected_version, "isDeleted": False}
        )
        if done is not None:
            return done
        current = await self.get(message_id, conversation_id)
        if current is None:
            raise AppError(errors.NOT_FOUND, "No such message")
        if getattr(current, "is_deleted", False):
            raise AppError(errors.MESSAGE_DELETED)
        raise AppError(
            errors.VERSION_CONFLICT,
            "The message changed since you read it",
            details={"currentVersion": getattr(current, "version", None)},
        )

    async def soft_delete(self, message_id: str, conversation_id: str, fields: dict[str, Any]) -> M | None:
        """Tombstone a message (content cleared by `fields`); None when it was already deleted or unknown."""
        now = utcnow()
        update = {"$set": {**fields, "isDeleted": True, "deletedAt": now}, "$inc": {"version": 1}}
        return await self.mutate(message_id, conversation_id, update, when={"isDeleted": False})

    # --- read ------------------------------------------------------------------------------------------
    async def get(self, message_id: str, conversation_id: str | None = None) -> M | None:
        flt: dict[str, Any] = {"id": message_id, "seq": {"$exists": True}}
        if conversation_id is not None:
            flt[self.field] = conversation_id
        return await self.repo.find_one(flt)

    async def page(
        self,
        conversation_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
        limit: int = 50,
        extra: Filter | None = None,
    ) -> list[M]:
        """A page of messages in ascending seq: the latest, before/after a seq, or centred on one."""
        limit = max(1, min(limit, MAX_PAGE))
        base: dict[str, Any] = {self.field: conversation_id, **(extra or {})}
        if around is not None:
            older = await self.repo.find({**base, "seq": {"$lt": around}}, sort=[("seq", -1)], limit=(limit - 1) // 2)
            newer = await self.repo.find({**base, "seq": {"$gte": around}}, sort=[("seq", 1)], limit=limit - len(older))
            return [*reversed(older), *newer]
        if after is not None:
            rows = await self.repo.find({**base, "seq": {"$gt": after}}, sort=[("seq", 1)], limit=limit)
            return rows if extra else contiguous(rows, after)
        cond: dict[str, Any] = {"$exists": True} if before is None else {"$lt": before}
        rows = await self.repo.find({**base, "seq": cond}, sort=[("seq", -1)], limit=limit)
        return list(reversed(rows))

    async def purge(self, conversation_ids: list[str]) -> int:
        """Hard-delete whole conversations (their container was deleted) and their counters."""
        await self.counters.coll.delete_many({"id": {"$in": [self.counters._id(c) for c in conversation_ids]}})
        return await self.repo.delete({self.field: {"$in": conversation_ids}})

    async def changed_since(self, conversation_id: str, event_seq: int, *, limit: int = MAX_PAGE) -> list[M]:
        """Messages created or changed after event `event_seq`, oldest change first (for sync)."""
        return await self.repo.find(
            {self.field: conversation_id, "lastEventSeq": {"$gt": event_seq}},
            sort=[("lastEventSeq", 1)],
            limit=limit,
        )
