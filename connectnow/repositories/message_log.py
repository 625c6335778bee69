"""The message engine: sequencing, idempotency, optimistic edits, soft deletes, event stamps.

Generic over a "conversation" so channel messages and direct messages share one implementation.

How to reuse it (e.g. for direct messages)::

    log = MessageLog(store, DirectMessageRecord, collection="direct_messages",
                     conversation_field="conversationId", scope="dm")
    record, created = await log.append(conversation_id, sender_id, client_msg_id, build)
    # `build(seq, event_seq, dedupe_key)` returns the record to store (the log stamps seq/lastEventSeq).
    record = await log.edit(message_id, conversation_id, expected_version, {"content": "..."})
    record = await log.soft_delete(message_id, conversation_id, {"content": ""})
    record = await log.mutate(message_id, conversation_id, {"$set": {"isPinned": True}})
    async with log.step(conversation_id) as step:       # a change plus side writes, as one step
        record = await log.apply(step, message_id, {"$set": {}})
    page = await log.page(conversation_id, before=..., after=..., around=..., limit=50)
    changed = await log.changed_since(conversation_id, event_seq)   # for gap-free sync

The record model needs the fields: id, seq (int | None), last_event_seq, version, dedupe_key, is_deleted,
is_edited, edited_at, deleted_at, updated_at. Your migration adds the collection, a unique index on
`dedupeKey`, and (conversation_field, seq) / (conversation_field, lastEventSeq) indexes. Counters live in the
shared `conversation_counters` collection under the id `{scope}:{conversationId}`.

How a change is made (a "step"), per conversation, on both adapters:
1. take the conversation's lease on its counters document (`lockOwner`/`lockUntil`), which also reads the
   current `seq`/`eventSeq`; only one step per conversation runs at a time, on every worker;
2. check (a replayed clientMsgId, a stale version, an existing reaction): a refusal leaves here, before any
   number is taken, so nothing refused ever takes one;
3. write the message carrying its numbers (one document: a message never exists without its `seq`), then
   any side writes (a reaction, a conversation's last-message fields);
4. store the new counters and release the lease in one write.
On SQLite the whole step is one transaction (store.transaction()): all of it is stored or none. On MongoDB
(no multi-document transactions) a crash can leave only one partial state: a message or stamp written but the
counters not moved on and the lease not released. The next step on that conversation finds the lease expired
but never released and repairs the counters from the messages themselves before going on; the start-up pass
(`repair_all`) does the same for every such conversation and numbers any message stored without a seq by an
older version. Both are logged and counted (`connectnow_repairs_total`).

Guarantees:
- `seq` is gap-free and increasing per conversation, and a message is stored with it or not at all.
- `eventSeq` is contiguous per conversation: every stored change (create, edit, delete, reaction, pin, thread
  reply count) takes the next number and nothing refused takes one; the message keeps the latest as
  `lastEventSeq`, so "everything with lastEventSeq > N" is what a client that saw event N has missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.base import Repository
from connectnow.store.port import DocumentStore, DuplicateKeyError, Filter
from models.base import StoredModel

log = logging.getLogger("connectnow.message_log")

M = TypeVar("M", bound=StoredModel)
COUNTERS = "conversation_counters"
MAX_PAGE = 100  # messages per history page, at most
# A step holds its conversation's lease for milliseconds; a lease older than this belongs to a dead worker.
LEASE_SECONDS = 10.0
LEASE_WAIT_SECONDS = 15.0  # a step waits this long for a busy lease, then answers UNAVAILABLE
LEASE_POLL_SECONDS = 0.005

Builder = Callable[[int, int, str], M] | Callable[[int, int, str], Awaitable[M]]
RepairHook = Callable[[str, int], None]  # (what was repaired, how many)


def dedupe_key(conversation_id: str, sender_id: str, client_msg_id: str) -> str:
    return f"{conversation_id}:{sender_id}:{client_msg_id}"


def contiguous(rows: list[M], after: int) -> list[M]:
    """The run of rows numbered after+1, after+2, ... up to the first hole.

    Messages are stored with their seq in order, so a page has no hole; this stays as a safety net (rows a
    repair has not numbered yet): a catch-up page that handed out 6 before 5 would make a client skip 5."""
    out: list[M] = []
    expected = after + 1
    for row in rows:
        if getattr(row, "seq", None) != expected:
            break
        out.append(row)
        expected += 1
    return out


@dataclass
class Step:
    """One serialized change to a conversation: the counters as the step found them, and what it took."""

    conversation_id: str
    seq: int
    event_seq: int
    lease: int = 0  # which lease of the conversation this step holds (released as `released`)

    def take(self, *, seq: bool) -> tuple[int, int]:
        """The next numbers (seq or 0, eventSeq); call only once the change is sure to be stored."""
        self.event_seq += 1
        if seq:
            self.seq += 1
        return (self.seq if seq else 0), self.event_seq


class LeaseBusy(Exception):
    pass


@dataclass
class _Pending(Generic[M]):
    """An append waiting for its group's step."""

    key: str
    record: M
    also: Callable[[M, Step], Awaitable[None]] | None
    done: asyncio.Future[tuple[M, bool]]


class Counters:
    """Per-conversation counters `seq` (messages) and `eventSeq` (every change), and the step lease."""

    def __init__(self, store: DocumentStore, scope: str) -> None:
        self.coll = store.collection(COUNTERS)
        self.scope = scope

    def _id(self, conversation_id: str) -> str:
        return f"{self.scope}:{conversation_id}"

    def conversation_of(self, counter_id: str) -> str | None:
        prefix = f"{self.scope}:"
        return counter_id[len(prefix) :] if counter_id.startswith(prefix) else None

    async def acquire(self, conversation_id: str, owner: str) -> tuple[int, int, int, bool]:
        """Take the lease in one write: returns (seq, eventSeq, lease number, stale), stale when an earlier
        holder never released its lease (it died mid-step)."""
        now = time.time()
        flt = {"id": self._id(conversation_id), "$or": [{"lockOwner": None}, {"lockUntil": {"$lt": now}}]}
        update = {"$set": {"lockOwner": owner, "lockUntil": now + LEASE_SECONDS}, "$inc": {"leases": 1}}
        try:
            doc = await self.coll.find_one_and_update(flt, update, upsert=True, return_new=True)
        except DuplicateKeyError as exc:  # the document exists and its lease is held
            raise LeaseBusy from exc
        assert doc is not None
        lease = int(doc["leases"])
        stale = lease - 1 != int(doc.get("released", lease - 1))
        return int(doc.get("seq", 0)), int(doc.get("eventSeq", 0)), lease, stale

    async def release(self, conversation_id: str, owner: str, step: Step) -> bool:
        """Store the step's counters and free the lease, in one write."""
        return await self.coll.update_one(
            {"id": self._id(conversation_id), "lockOwner": owner},
            {
                "$set": {
                    "seq": step.seq,
                    "eventSeq": step.event_seq,
                    "released": step.lease,
                    "lockOwner": None,
                    "lockUntil": None,
                }
            },
        )

    async def current(self, conversation_id: str) -> tuple[int, int]:
        doc = await self.coll.find_one({"id": self._id(conversation_id)})
        return (int(doc.get("seq", 0)), int(doc.get("eventSeq", 0))) if doc else (0, 0)

    async def current_many(self, conversation_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(seq, eventSeq) of several conversations in one query (absent ones are left out)."""
        docs = await self.coll.find({"id": {"$in": sorted({self._id(c) for c in conversation_ids})}})
        out: dict[str, tuple[int, int]] = {}
        for doc in docs:
            conversation = self.conversation_of(str(doc["id"]))
            if conversation is not None:
                out[conversation] = (int(doc.get("seq", 0)), int(doc.get("eventSeq", 0)))
        return out


class MessageLog(Generic[M]):
    def __init__(
        self,
        store: DocumentStore,
        model: type[M],
        *,
        collection: str,
        conversation_field: str,
        scope: str,
        on_repair: RepairHook | None = None,
    ) -> None:
        repo_cls = type(f"{model.__name__}Repo", (Repository,), {"collection_name": collection, "model": model})
        self.store = store
        self.repo: Repository[M] = repo_cls(store)
        self.field = conversation_field
        self.scope = scope
        self.counters = Counters(store, scope)
        self.on_repair = on_repair  # the node counts repairs in /metrics
        # One step per conversation at a time in this process (the lease does it across processes).
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._appends: dict[str, list[_Pending[M]]] = {}  # per conversation: appends waiting for a step

    # --- steps -----------------------------------------------------------------------------------------
    @asynccontextmanager
    async def step(self, conversation_id: str, *, repair: bool = False) -> AsyncIterator[Step]:
        """Serialize one change to a conversation (see the module docstring). Numbers the block takes with
        `step.take` are stored as the conversation's counters when the block ends without raising."""
        lock = self._local.get(conversation_id)
        if lock is None:
            lock = self._local[conversation_id] = asyncio.Lock()
        # A step is point statements bounded by its group (`short`), except a repair, which may number many.
        async with lock, self.store.transaction(short=not repair):
            owner = new_id()
            seq, event_seq, lease, stale = await self._acquire(conversation_id, owner)
            step = Step(conversation_id, seq, event_seq, lease)
            if stale or repair:
                await self._repair(step, "stale lease" if stale else "requested")
            try:
                yield step
            except BaseException:
                if not self.store.atomic_transactions:
                    # Something may have been written before the failure: count it from the messages.
                    await self._repair(step, "failed step")
                    await self.counters.release(conversation_id, owner, step)
                raise
            if not await self.counters.release(conversation_id, owner, step):
                log.error("the lease of %s:%s expired during a step", self.scope, conversation_id)

    async def _acquire(self, conversation_id: str, owner: str) -> tuple[int, int, int, bool]:
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        while True:
            try:
                return await self.counters.acquire(conversation_id, owner)
            except LeaseBusy:
                if time.monotonic() > deadline:
                    raise AppError(errors.UNAVAILABLE, "The conversation is busy; retry") from None
                await asyncio.sleep(LEASE_POLL_SECONDS)

    async def _repair(self, step: Step, why: str) -> None:
        """Bring the counters up to what the messages hold, and number messages stored without a seq."""
        flt: dict[str, Any] = {self.field: step.conversation_id}
        top = await self.repo.coll.find_one({**flt, "seq": {"$exists": True}}, sort=[("seq", -1)])
        last = await self.repo.coll.find_one({**flt, "lastEventSeq": {"$exists": True}}, sort=[("lastEventSeq", -1)])
        found_seq = int(top["seq"]) if top else 0
        found_event = int(last["lastEventSeq"]) if last else 0
        repaired = int(found_seq > step.seq) + int(found_event > step.event_seq)
        step.seq, step.event_seq = max(step.seq, found_seq), max(step.event_seq, found_event)
        orphans = await self.repo.coll.find({**flt, "seq": {"$exists": False}}, sort=[("createdAt", 1), ("id", 1)])
        for orphan in orphans:
            seq, event_seq = step.take(seq=True)
            await self.repo.coll.update_one({"id": orphan["id"]}, {"$set": {"seq": seq, "lastEventSeq": event_seq}})
        repaired += len(orphans)
        if repaired:
            log.warning(
                "repaired %s:%s (%s): counters now seq=%d eventSeq=%d, %d message(s) numbered",
                self.scope, step.conversation_id, why, step.seq, step.event_seq, len(orphans),
            )  # fmt: skip
            if self.on_repair is not None:
                self.on_repair(self.scope, repaired)

    async def repair_all(self) -> int:
        """The start-up pass: every conversation left with an expired, unreleased lease or with messages
        lacking a seq is repaired now. Returns how many conversations it visited."""
        now = time.time()
        todo: set[str] = set()
        for doc in await self.counters.coll.find({"lockOwner": {"$exists": True}, "lockUntil": {"$lt": now}}):
            conversation = self.counters.conversation_of(str(doc["id"]))
            if conversation is not None:
                todo.add(conversation)
        for doc in await self.repo.coll.find({"seq": {"$exists": False}}):
            todo.add(str(doc[self.field]))
        for conversation in sorted(todo):
            async with self.step(conversation, repair=True):
                pass
        return len(todo)

    # --- create ----------------------------------------------------------------------------------------
    async def append(
        self,
        conversation_id: str,
        sender_id: str,
        client_msg_id: str,
        build: Builder[M],
        *,
        also: Callable[[M, Step], Awaitable[None]] | None = None,
        checked: bool = False,
    ) -> tuple[M, bool]:
        """Store a message once per (conversation, sender, clientMsgId). Returns (message, created).

        `also(message, step)` runs inside the same step after the insert (a conversation's last-message
        fields, a thread root's reply count through `apply`), so it is stored with the message or not at all.
        `checked`: no look for a replay before the step (the caller has looked with `find_replay`, or leaves
        it to the step: its group's one look-up answers a replay with the original, `created` False).

        Group commit: appends to one conversation that arrive while a step is running wait for it and then
        go together in the next step (one transaction on SQLite, one insert of all the messages), and each
        is answered once that step has committed."""
        key = dedupe_key(conversation_id, sender_id, client_msg_id)
        if not checked and (existing := await self.find_replay(key)) is not None:
            return existing, False
        made = build(0, 0, key)
        record: M = await made if isinstance(made, Awaitable) else made
        pending = _Pending(key, record, also, asyncio.get_running_loop().create_future())
        queue = self._appends.setdefault(conversation_id, [])
        queue.append(pending)
        if len(queue) == 1:  # the first of a group leads it: it runs the step for everyone queued by then
            await self._append_group(conversation_id, pending)
        return await pending.done

    async def _append_group(self, conversation_id: str, leader: _Pending[M]) -> None:
        group: list[_Pending[M]] = []
        try:
            # Let the sends that are ready to run join this group first: a step of small messages runs on
            # the loop's thread from start to end (SQLite), so nothing else would ever queue behind it.
            await asyncio.sleep(0)
            async with self.step(conversation_id) as step:
                group = self._appends.pop(conversation_id)
                answers = await self._store_group(step, group)
        except BaseException as exc:
            # Everyone in the group learns the failure (a cancelled leader leaves the others UNAVAILABLE:
            # their resend finds whatever was stored).
            failure = exc if isinstance(exc, Exception) else AppError(errors.UNAVAILABLE, "Retry the send")
            for pending in group or self._appends.pop(conversation_id, []):
                if not pending.done.done() and (pending is not leader or failure is exc):
                    pending.done.set_exception(failure)
            if failure is not exc:
                raise
            return
        for pending, answer in zip(group, answers, strict=True):
            pending.done.set_result(answer)

    async def _store_group(self, step: Step, group: list[_Pending[M]]) -> list[tuple[M, bool]]:
        """Inside the step: the new messages of the group numbered in arrival order and inserted at once;
        replays (stored before, or twice in the group) answered with the original."""
        keys = sorted({p.key for p in group})
        originals: dict[str, M] = {
            str(getattr(r, "dedupe_key", "")): r for r in await self.repo.find({"dedupeKey": {"$in": keys}})
        }
        answers: list[tuple[M, bool]] = []
        fresh: list[M] = []
        for pending in group:
            if pending.key in originals:
                answers.append((originals[pending.key], False))
                continue
            seq, event_seq = step.take(seq=True)
            stored = pending.record.model_copy(update={"seq": seq, "last_event_seq": event_seq})
            originals[pending.key] = stored
            fresh.append(stored)
            answers.append((stored, True))
        if fresh:
            await self.repo.coll.insert_many([m.to_doc() for m in fresh])
        for pending, (stored, created) in zip(group, answers, strict=True):
            if created and pending.also is not None:
                await pending.also(stored, step)
        return answers

    async def find_replay(self, key: str) -> M | None:
        """The stored original of a replayed dedupe key (None for a new message); never waits for a
        writer: a message is stored with its seq or not at all (one stored by an older version without one
        is numbered here)."""
        existing = await self.repo.find_one({"dedupeKey": key})
        if existing is None or getattr(existing, "seq", None) is not None:
            return existing
        async with self.step(str(getattr(existing, _attr(self.field))), repair=True):
            pass
        return await self.repo.find_one({"dedupeKey": key})

    async def replay_or_raise(self, key: str, refusal: Exception) -> M:
        """The stored original of `key` when a refused send is a replay (a replay is answered, never
        refused), else `refusal` is raised."""
        replay = await self.find_replay(key)
        if replay is None:
            raise refusal
        return replay

    # --- mutate ----------------------------------------------------------------------------------------
    async def apply(
        self, step: Step, message_id: str, update: dict[str, Any], *, when: Filter | None = None
    ) -> M | None:
        """Inside a step: apply `update` to a live (sequenced) message of the step's conversation and stamp
        the next eventSeq; None (and no number taken) when nothing matched."""
        full: dict[str, Any] = {op: dict(fields) for op, fields in update.items()}
        full.setdefault("$set", {})["lastEventSeq"] = step.event_seq + 1
        full["$set"].setdefault("updatedAt", utcnow())
        flt = {"id": message_id, self.field: step.conversation_id, "seq": {"$exists": True}, **(when or {})}
        done = await self.repo.update(flt, full)
        if done is not None:
            step.take(seq=False)
        return done

    async def stamp(self, step: Step, message_id: str) -> M | None:
        """Inside a step: give a live, not deleted message the next eventSeq (for a change stored beside it,
        such as a reaction); None when it is deleted or gone."""
        return await self.apply(step, message_id, {"$set": {}}, when={"isDeleted": False})

    async def count_reply(self, step: Step, root_id: str, at: datetime) -> M | None:
        """Inside a reply's step: the thread root's reply count and last reply time."""
        return await self.apply(step, root_id, {"$inc": {"replyCount": 1}, "$set": {"lastReplyAt": at}})

    async def set_pin(self, message_id: str, conversation_id: str, *, by: str | None, at: datetime) -> M | None:
        """Pin (`by` a user) or unpin (`by` None) a live message; None when it is already in that state."""
        pinned = by is not None
        fields = {"isPinned": pinned, "pinnedAt": at if pinned else None, "pinnedBy": by}
        return await self.mutate(message_id, conversation_id, {"$set": fields}, when={"isPinned": not pinned})

    async def set_fields(self, message_id: str, fields: dict[str, Any]) -> M | None:
        """Fields that are not a change of the conversation (no event number), e.g. attachment summaries."""
        return await self.repo.set_fields(message_id, fields)

    async def pinned(self, conversation_id: str, *, limit: int = 100) -> list[M]:
        flt = {self.field: conversation_id, "isPinned": True, "isDeleted": False}
        return await self.repo.find(flt, sort=[("pinnedAt", -1)], limit=limit)

    async def search(self, conversation_ids: list[str], text: str, *, limit: int) -> list[M]:
        """Live messages of these conversations matching any word of `text`, best first."""
        flt = {self.field: {"$in": conversation_ids}, "isDeleted": False, "seq": {"$exists": True}}
        return [self.repo.model.model_validate(d) for d in await self.repo.coll.text_search(text, flt, limit=limit)]

    async def unseen_counts(
        self, read_up_to: dict[str, int], reader_id: str, *, mentioning: bool = False
    ) -> dict[str, int]:
        """Per conversation: live messages by others after the reader's pointer (`read_up_to`: conversation
        -> last read seq), only those mentioning the reader when `mentioning`. One query for them all."""
        flt: dict[str, Any] = {
            "$or": [{self.field: cid, "seq": {"$gt": seq}} for cid, seq in read_up_to.items()],
            "isDeleted": False,
            "userId": {"$ne": reader_id},
        }
        if mentioning:
            flt["mentions"] = {"$elemMatch": {"$eq": reader_id}}
        return await self.repo.coll.count_by(flt, self.field)

    async def mutate(
        self, message_id: str, conversation_id: str, update: dict[str, Any], *, when: Filter | None = None
    ) -> M | None:
        """Apply `update` to a live (sequenced) message and stamp a fresh eventSeq; None if nothing matched."""
        async with self.step(conversation_id) as step:
            return await self.apply(step, message_id, update, when=when)

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

    async def some_of(self, conversation_id: str, limit: int) -> list[M]:
        """Up to `limit` messages of a conversation, in no particular order (for batch deletes)."""
        return await self.repo.find({self.field: conversation_id}, limit=limit)

    async def delete_ids(self, message_ids: list[str]) -> int:
        """Hard-delete these messages (their conversation is being deleted; counters stay until `purge`)."""
        return await self.repo.delete({"id": {"$in": message_ids}})

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


def _attr(field: str) -> str:
    """A stored (camelCase) field's attribute name on the record model."""
    return "".join("_" + c.lower() if c.isupper() else c for c in field)
