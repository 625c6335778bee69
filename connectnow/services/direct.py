"""Direct messages: find-or-create a conversation, send (idempotent, sequenced), edit, delete, read.

Rules: only the two members of a conversation see it or anything in it; everyone else gets NOT_FOUND,
so conversation ids cannot be probed. Nobody opens a conversation with themself, or with a banned or
disabled user. Only the sender edits or deletes a message; only the recipient marks it read.

Message events go to the conversation's room `dm:{id}`. Both members' sockets are put in it on connect
(`rooms_for`) and, for a new conversation, right after it is stored (`join_user`, every worker). A socket
registers with the hub before its rooms are looked up, so a conversation created meanwhile is never missed.
Each member's own view of the conversation (unread count, order, preview) goes to their `user:{id}` room as
`dm:conversation`, so badges stay in step on every device.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_core import to_jsonable_python

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.ratelimit import RateLimiter, refuse
from connectnow.realtime.rooms import dm_room, user_room
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.direct import (
    DirectConversationRepository,
    DirectMessageRepository,
    direct_log,
    ordered_pair,
)
from connectnow.repositories.message_log import MessageLog, Step, dedupe_key
from connectnow.services.attachments import AttachmentService
from connectnow.services.auth import Principal
from connectnow.services.content import check_content
from connectnow.services.direct_gate import DirectGate
from connectnow.services.messages import check_thread_root
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.attachments import ConversationKind
from models.base import Wire, dump_as
from models.direct import (
    DirectConversationPublic,
    DirectConversationRecord,
    DirectEdit,
    DirectHistory,
    DirectList,
    DirectMarkRead,
    DirectMessagePublic,
    DirectMessageRecord,
    DirectPost,
    DirectReadReceipt,
    DirectSend,
    UserBlockPublic,
)
from models.messages import MessageType, ReactionSummary, ThreadQuery
from models.users import UserPublic, UserRecord

DEFAULT_MAX_CHARS = 4000


def dm_envelope(record: DirectMessageRecord, **extra: Any) -> Wire:
    """Every direct-message event: where, which message, and the stamps for gap detection (in wire form,
    the message dumped in one pass: the hub does not walk it again)."""
    return Wire(
        conversationId=record.conversation_id,
        messageId=record.id,
        seq=record.seq,
        eventSeq=record.last_event_seq,
        message=dump_as(record, DirectMessagePublic),
        # Extras may hold datetimes or models: JSON the way pydantic writes the message itself.
        **{k: to_jsonable_python(v, by_alias=True) for k, v in extra.items()},
    )


ReactionSummaries = Callable[[list[str]], Awaitable[dict[str, list[ReactionSummary]]]]


async def readable_message(
    conversations: DirectConversationRepository, log: MessageLog[DirectMessageRecord], user_id: str, message_id: str
) -> tuple[DirectMessageRecord, DirectConversationRecord]:
    """The message and its conversation if `user_id` is a member; NOT_FOUND otherwise (ids cannot be probed)."""
    record = await log.get(message_id)
    conversation = await conversations.get(record.conversation_id) if record else None
    if record is None or conversation is None or not conversation.has(user_id):
        raise AppError(errors.NOT_FOUND, "No such message")
    return record, conversation


def direct_reader(
    conversations: DirectConversationRepository, log: MessageLog[DirectMessageRecord]
) -> Callable[[str, str], Awaitable[bool]]:
    """Direct-message attachments: readable by the conversation's two members while the message is live."""

    async def check(user_id: str, message_id: str) -> bool:
        try:
            record, _ = await readable_message(conversations, log, user_id, message_id)
        except AppError:
            return False
        return not record.is_deleted

    return check


class DirectService:
    def __init__(
        self,
        store: DocumentStore,
        hub: Emitter,
        limiter: RateLimiter,
        attachments: AttachmentService,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        log: MessageLog[DirectMessageRecord] | None = None,
        gate: DirectGate | None = None,
        after_send: Callable[[str, str], Awaitable[None]] | None = None,
        reaction_summaries: ReactionSummaries | None = None,
    ) -> None:
        self.conversations = DirectConversationRepository(store)
        self.messages = DirectMessageRepository(store)
        # The node passes the one log of the process (shared with the attachments' reader check).
        self.log = log if log is not None else direct_log(store)
        self.users = UserRepository(store)
        self.hub = hub
        self.limiter = limiter
        self.attachments = attachments
        self.max_chars = max_chars
        # Called with (sender id, conversation id) after a new message is out (typing ends for the sender).
        self.after_send = after_send
        self.gate = gate  # blocks, shared workspaces, bans; None: any two users may talk
        # message ids -> reaction summaries (DirectExtrasService's repository) for history pages
        self.reaction_summaries = reaction_summaries

    # --- conversations -----------------------------------------------------------------------------------
    async def open(
        self, principal: Principal, other_id: str, *, user_request: bool = False
    ) -> DirectConversationPublic:
        """Find or create. `user_request`: a user asked (the handlers), so a new conversation needs a shared
        workspace; the server's own senders (reminders, scheduled posts) leave it False."""
        conversation = await self._find_or_create(principal, other_id, user_request=user_request)
        return (await self._views(principal.user_id, [conversation]))[0]

    async def _find_or_create(
        self, principal: Principal, other_id: str, *, user_request: bool
    ) -> DirectConversationRecord:
        if other_id == principal.user_id:
            raise AppError(errors.DM_SELF)
        other = await self._recipient(other_id)
        existing = await self.conversations.of_pair(principal.user_id, other.id)
        if existing is not None:
            return existing
        if self.gate is not None:
            await self.gate.may_open(principal.user_id, other.id, user_request=user_request)
        a, b = ordered_pair(principal.user_id, other.id)
        now = utcnow()
        record = DirectConversationRecord(id=new_id(), user_a_id=a, user_b_id=b, created_at=now, updated_at=now)
        try:
            await self.conversations.insert(record)
        except DuplicateKeyError:
            # A concurrent open of the same pair won the unique index: use its conversation.
            winner = await self.conversations.of_pair(a, b)
            if winner is None:
                raise
            return winner
        for user_id in (a, b):
            await self.hub.join_user(user_id, dm_room(record.id))
        await self._announce(record, (a, b))
        return record

    async def _recipient(self, user_id: str) -> UserRecord:
        user = await self.users.get(user_id)
        if user is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        if user.is_banned or not user.is_active:
            raise AppError(errors.DM_RECIPIENT_UNAVAILABLE)
        return user

    async def conversation(self, principal: Principal, conversation_id: str) -> DirectConversationRecord:
        """A conversation of the caller; NOT_FOUND for unknown ones and other pairs' alike."""
        record = await self.conversations.get(conversation_id)
        if record is None or not record.has(principal.user_id):
            raise AppError(errors.NOT_FOUND, "No such conversation")
        return record

    async def get(self, principal: Principal, conversation_id: str) -> DirectConversationPublic:
        record = await self.conversation(principal, conversation_id)
        return (await self._views(principal.user_id, [record]))[0]

    async def list_conversations(self, principal: Principal, query: DirectList) -> list[DirectConversationPublic]:
        """The caller's conversations, most recent message first, each with its unread count."""
        records = await self.conversations.for_user(
            principal.user_id, limit=query.limit, before=query.before, before_id=query.before_id
        )
        return await self._views(principal.user_id, records)

    async def _views(self, me: str, records: list[DirectConversationRecord]) -> list[DirectConversationPublic]:
        others = {u.id: u for u in await self.users.by_ids([r.other(me) for r in records])}
        unread = await self.messages.unread_counts([r.id for r in records], me)
        latest = await self.messages.last_messages(records)
        return [
            DirectConversationPublic(
                id=r.id,
                user_a_id=r.user_a_id,
                user_b_id=r.user_b_id,
                other_user=UserPublic.model_validate(others[r.other(me)], from_attributes=True),
                last_message_at=r.last_message_at,
                last_message_seq=r.last_message_seq,
                last_read_seq=r.last_read_seq(me),
                other_last_read_seq=r.last_read_seq(r.other(me)),
                unread=unread.get(r.id, 0),
                mentions=unread.get(r.id, 0),
                last_message=_public(latest[r.id]) if r.id in latest else None,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in records
            if r.other(me) in others
        ]

    # --- messages ----------------------------------------------------------------------------------------
    async def send(
        self, principal: Principal, data: DirectSend, *, user_request: bool = False
    ) -> tuple[DirectMessagePublic, bool]:
        """Store a message once per clientMsgId and notify both members. Returns (message, created)."""
        self._check_content(data)  # before find-or-create: a refused message leaves no empty conversation
        if data.conversation_id is not None:
            conversation = await self.conversation(principal, data.conversation_id)
        else:
            assert data.user_id is not None
            conversation = await self._find_or_create(principal, data.user_id, user_request=user_request)
        return await self.post(principal, conversation.id, data, client_msg_id=data.client_msg_id)

    async def post(
        self, principal: Principal, conversation_id: str, data: DirectPost, *, client_msg_id: str | None = None
    ) -> tuple[DirectMessagePublic, bool]:
        conversation = await self.conversation(principal, conversation_id)
        self._check_content(data)
        recipient = await self._recipient(conversation.other(principal.user_id))
        # REST callers may leave clientMsgId out: then every call is a new message.
        key = client_msg_id or data.client_msg_id or f"auto-{new_id()}"
        dedupe = dedupe_key(conversation.id, principal.user_id, key)
        # A replay (a resend after a lost ack) is answered before anything else and costs no token. A send
        # that the gate and the rate limit let through leaves the look-up to its step (one query for the
        # step's group: a read saved per send) and gives its token back if it turns out to be a replay; any
        # refusal looks first, so a replay is never refused.
        rule = self.limiter.rules.send
        refusal: AppError | None = None
        try:
            if self.gate is not None:
                await self.gate.may_send(principal.user_id, recipient.id)
        except AppError as exc:
            refusal = exc
        if refusal is None and not (decision := await self.limiter.take(principal.user_id, rule)).allowed:
            refusal = refuse(rule, decision)
        if refusal is not None:
            return _public(await self.log.replay_or_raise(dedupe, refusal)), False
        try:
            parent = await self._thread_parent(conversation.id, data.parent_id)
        except AppError as exc:
            # A replay's check may fail where the original's passed (its thread's root deleted since).
            replay = await self.log.replay_or_raise(dedupe, exc)
            await self.limiter.take(principal.user_id, rule, -1)
            return _public(replay), False
        now = utcnow()

        def build(seq: int, event_seq: int, stamp_key: str) -> DirectMessageRecord:
            return DirectMessageRecord(
                id=new_id(),
                conversation_id=conversation.id,
                sender_id=principal.user_id,
                recipient_id=recipient.id,
                content=data.content,
                type=data.type,
                parent_id=data.parent_id,
                client_msg_id=key,
                dedupe_key=stamp_key,
                is_bot=principal.is_bot,
                via="api" if principal.api_key_id else None,
                created_at=now,
                updated_at=now,
            )

        bumped: list[DirectMessageRecord] = []

        async def touch(stored: DirectMessageRecord, step: Step) -> None:  # in the append's step: stored with it
            assert stored.seq is not None
            await self.conversations.touch(conversation.id, stored.seq, stored.created_at)
            if parent is not None:  # a reply and its root's reply count: stored together or not at all
                root = await self.log.count_reply(step, parent.id, stored.created_at)
                if root is not None:
                    bumped.append(root)

        record, created = await self.log.append(
            conversation.id, principal.user_id, key, build, also=touch, checked=True
        )
        if not created:  # a replay, found by the step
            await self.limiter.take(principal.user_id, rule, -1)
            return _public(record), False
        record = await self._attach(principal, record, data.attachment_ids)
        await self._emit("dm:message", conversation, dm_envelope(record))
        for root in bumped:
            extra = {"replyCount": root.reply_count, "lastReplyAt": root.last_reply_at}
            await self._emit("dm:thread:updated", conversation, dm_envelope(root, **extra))
        await self._announce(conversation, (conversation.user_a_id, conversation.user_b_id))
        if self.after_send is not None:
            await self.after_send(principal.user_id, conversation.id)
        return _public(record), True

    async def _thread_parent(self, conversation_id: str, parent_id: str | None) -> DirectMessageRecord | None:
        """The same rules as channel threads: one level, a live root in the same conversation."""
        if parent_id is None:
            return None
        return check_thread_root(await self.log.get(parent_id, conversation_id), "conversation")

    async def thread(self, principal: Principal, query: ThreadQuery) -> list[DirectMessagePublic]:
        parent, conversation = await self._readable_message(principal.user_id, query.message_id)
        rows = await self.log.page(
            conversation.id, after=query.after or 0, limit=query.limit, extra={"parentId": parent.id}
        )
        return [_public(r) for r in rows]

    def _check_content(self, data: DirectPost) -> None:
        check_content(data.content, self.max_chars, is_system=data.type is MessageType.SYSTEM)
        if not data.content.strip() and not data.attachment_ids:
            raise AppError(errors.VALIDATION_FAILED, "A message needs content or attachments")

    async def _attach(self, principal: Principal, record: DirectMessageRecord, ids: list[str]) -> DirectMessageRecord:
        if not ids:
            return record
        try:
            summaries = await self.attachments.claim(
                principal, ids, direct_message_id=record.id, conversation_id=record.conversation_id
            )
        except AppError:
            # The message must not stay without the files it announced: tombstone it (seq stays gap-free)
            # and say so, so the conversation's event stream has no hole.
            deleted = await self.log.soft_delete(record.id, record.conversation_id, {"content": ""})
            if deleted is not None:
                await self.hub.emit("dm:message:deleted", dm_envelope(deleted), room=dm_room(record.conversation_id))
            raise
        docs = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in summaries]
        updated = await self.log.set_fields(record.id, {"attachments": docs})
        return updated or record

    async def edit(self, principal: Principal, data: DirectEdit) -> DirectMessagePublic:
        record, conversation = await self._own_message(principal, data.message_id)
        self._check_content(DirectPost(content=data.content))
        edited = await self.log.edit(record.id, conversation.id, data.version, {"content": data.content})
        await self._emit("dm:message:updated", conversation, dm_envelope(edited))
        return _public(edited)

    async def delete(self, principal: Principal, message_id: str) -> DirectMessagePublic:
        record, conversation = await self._own_message(principal, message_id)
        deleted = await self.log.soft_delete(record.id, conversation.id, {"content": "", "attachments": []})
        if deleted is None:
            raise AppError(errors.MESSAGE_DELETED)
        await self.attachments.discard_for_message(ConversationKind.DIRECT, record.id)
        await self._emit("dm:message:deleted", conversation, dm_envelope(deleted))
        return _public(deleted)

    async def _own_message(
        self, principal: Principal, message_id: str
    ) -> tuple[DirectMessageRecord, DirectConversationRecord]:
        record, conversation = await self._readable_message(principal.user_id, message_id)
        if record.sender_id != principal.user_id:
            raise AppError(errors.FORBIDDEN, "Only the sender may change a message")
        return record, conversation

    async def _readable_message(
        self, user_id: str, message_id: str
    ) -> tuple[DirectMessageRecord, DirectConversationRecord]:
        return await readable_message(self.conversations, self.log, user_id, message_id)

    async def can_read_message(self, user_id: str, message_id: str) -> bool:
        """For attachments: may this user read this direct message? (A deleted message shows no files.)"""
        return await direct_reader(self.conversations, self.log)(user_id, message_id)

    async def history(self, principal: Principal, query: DirectHistory) -> list[DirectMessagePublic]:
        conversation = await self.conversation(principal, query.conversation_id)
        rows = await self.log.page(
            conversation.id, before=query.before, after=query.after, around=query.around, limit=query.limit
        )
        pages = [_public(r) for r in rows]
        if self.reaction_summaries is None:
            return pages
        summaries = await self.reaction_summaries([r.id for r in rows if not r.is_deleted])
        return [p.model_copy(update={"reactions": summaries.get(p.id, [])}) for p in pages]

    # --- blocking ----------------------------------------------------------------------------------------
    async def block(self, principal: Principal, user_id: str) -> UserBlockPublic:
        if await self.users.get(user_id) is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        return await self._gate().block(principal.user_id, user_id)

    async def unblock(self, principal: Principal, user_id: str) -> None:
        await self._gate().unblock(principal.user_id, user_id)

    async def blocks(self, principal: Principal) -> list[UserBlockPublic]:
        return await self._gate().blocked_by(principal.user_id)

    def _gate(self) -> DirectGate:
        if self.gate is None:
            raise AppError(errors.NOT_FOUND, "Blocking is not available on this server")
        return self.gate

    # --- read state --------------------------------------------------------------------------------------
    async def mark_read(self, principal: Principal, data: DirectMarkRead) -> DirectConversationPublic:
        """Mark the other member's messages read up to a message (the latest when none is given)."""
        conversation = await self.conversation(principal, data.conversation_id)
        up_to = conversation.last_message_seq
        if data.message_id is not None:
            record = await self.log.get(data.message_id, conversation.id)
            if record is None or record.seq is None:
                raise AppError(errors.NOT_FOUND, "No such message")
            up_to = record.seq
        now = utcnow()
        changed = await self.messages.mark_read(conversation.id, principal.user_id, up_to, now)
        await self.conversations.advance_read(conversation, principal.user_id, up_to)
        if changed:
            receipt = DirectReadReceipt(
                conversation_id=conversation.id, reader_id=principal.user_id, up_to_seq=up_to, read_at=now
            )
            await self._emit("dm:read", conversation, receipt)
            await self._announce(conversation, (principal.user_id,))
        return await self.get(principal, conversation.id)

    # --- events --------------------------------------------------------------------------------------------
    async def _emit(self, event: str, conversation: DirectConversationRecord, data: object) -> None:
        await self.hub.emit(event, data, room=dm_room(conversation.id))

    async def _announce(self, conversation: DirectConversationRecord, user_ids: tuple[str, ...]) -> None:
        """Each member's own view (unread badge, order, preview) to all of their sockets, e.g. other devices."""
        fresh = await self.conversations.get(conversation.id) or conversation
        for user_id in user_ids:
            views = await self._views(user_id, [fresh])
            if views:
                await self.hub.emit("dm:conversation", {"conversation": views[0]}, room=user_room(user_id))

    async def rooms_for(self, user_id: str) -> list[str]:
        """The `dm:{id}` room of every conversation of a user (joined on connect)."""
        return [dm_room(c.id) async for c in self.conversations.iterate_for(user_id)]


def _public(record: DirectMessageRecord) -> DirectMessagePublic:
    """From a plain dump, not from_attributes: an order of magnitude cheaper per message."""
    return DirectMessagePublic.model_validate(record.model_dump())
