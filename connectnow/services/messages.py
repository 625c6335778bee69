"""Channel messages: send (idempotent, sequenced), edit, soft delete, pin, threads, history, mentions.

Rules: reading needs read access to the channel (chat_access); writing needs channel membership, a role the
policy allows, and a channel that is not archived. Events leave through the hub after the write, to the
channel room; every event carries the message's `seq` and the conversation's new `eventSeq`.
Reactions, search and read state live in their own modules (reactions.py, read_state.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from pydantic_core import to_jsonable_python

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.hub import to_wire
from connectnow.realtime.ratelimit import RateLimiter, refuse
from connectnow.realtime.rooms import user_room
from connectnow.repositories.message_log import MessageLog, Step, dedupe_key
from connectnow.repositories.messages import ReactionRepository, channel_log
from connectnow.services import policy
from connectnow.services.auth import Principal
from connectnow.services.chat_access import ChannelAccess, ChatAccess, channel_room
from connectnow.services.content import check_content
from connectnow.services.notify import BROAD_NAMES, Notifier, StatusReader, broad_scope
from connectnow.services.policy import Action
from connectnow.store.port import DocumentStore
from models.attachments import ConversationKind
from models.base import Wire, dump_as
from models.channels import ChannelRecord, ChannelType
from models.messages import (
    HistoryQuery,
    MessageEdit,
    MessagePublic,
    MessageRecord,
    MessageSend,
    MessageType,
    ThreadQuery,
)
from models.users import UserRecord

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_.-]{2,31})")
MAX_MENTIONS = 50  # per message: more is a mass-ping, not a conversation


class AttachmentClaimer(Protocol):
    """What messages need from the attachments area (connectnow/services/attachments.py)."""

    async def get(self, principal: Principal, attachment_id: str) -> Any: ...

    async def claim(
        self, principal: Principal, attachment_ids: list[str], *, message_id: str, conversation_id: str
    ) -> list[Any]: ...

    async def discard_for_message(self, kind: Any, message_id: str) -> int: ...


def envelope(record: MessageRecord, public: MessagePublic | Wire | None = None, **extra: Any) -> Wire:
    """The shape of every message event: where, which message, and the stamps for gap detection; in wire
    form, so the hub does not walk it again."""
    body = Wire(channelId=record.channel_id, messageId=record.id, seq=record.seq, eventSeq=record.last_event_seq)
    if public is not None:
        body["message"] = public if isinstance(public, Wire) else to_wire(public)
    # Extras may hold datetimes or models: make them JSON the way pydantic writes the message itself.
    body.update({k: to_jsonable_python(v, by_alias=True) for k, v in extra.items()})
    return body


def check_forum_shape(channel: ChannelRecord, data: MessageSend) -> None:
    """FORUM channels: a top-level message is a post with a title, and discussion happens in its thread.
    Other channels have no titles."""
    if channel.type is not ChannelType.FORUM:
        if data.title is not None:
            raise AppError(errors.VALIDATION_FAILED, "Only FORUM channels have titled posts")
        return
    if data.parent_id is None and data.title is None:
        raise AppError(errors.VALIDATION_FAILED, "A FORUM post needs a title; reply in a post's thread")
    if data.parent_id is not None and data.title is not None:
        raise AppError(errors.VALIDATION_FAILED, "Replies in a FORUM thread have no title")


class ModerationKeeper(Protocol):
    async def keep(self, message: MessageRecord, deleted_by: str) -> Any: ...

    async def forget(self, message_id: str) -> None: ...


class ThreadRoot(Protocol):
    parent_id: str | None
    is_deleted: bool


R = TypeVar("R", bound=ThreadRoot)


def check_thread_root(parent: R | None, where: str) -> R:
    """Threads are one level deep and start at a live message of the same conversation (channel or DM)."""
    if parent is None:
        raise AppError(errors.NOT_FOUND, f"No such parent message in this {where}")
    if parent.parent_id is not None:
        raise AppError(errors.VALIDATION_FAILED, "Reply to the thread's first message, not to a reply")
    if parent.is_deleted:
        raise AppError(errors.MESSAGE_DELETED, "The thread's first message was deleted")
    return parent


def live_channel_reader(access: ChatAccess, log: MessageLog[MessageRecord]) -> Callable[[str, str], Awaitable[bool]]:
    """Channel attachments: readable by who can read the message, and only while it is not deleted."""

    async def check(user_id: str, message_id: str) -> bool:
        record = await log.get(message_id)
        if record is None or record.is_deleted:
            return False
        return await access.can_read_channel(record.channel_id, user_id)

    return check


class MessageService:
    def __init__(
        self,
        store: DocumentStore,
        access: ChatAccess,
        hub: Emitter,
        *,
        max_chars: int,
        limiter: RateLimiter | None = None,
        log: MessageLog[MessageRecord] | None = None,
        attachments: AttachmentClaimer | None = None,
        moderation: ModerationKeeper | None = None,
        statuses: StatusReader | None = None,
    ) -> None:
        # The node passes the one log of the process (its steps are serialized per process, so it is shared
        # with the attachments' reader check); a service built alone makes its own.
        self.log = log if log is not None else channel_log(store)
        self.reactions = ReactionRepository(store)
        self.access = access
        self.hub = hub
        self.max_chars = max_chars
        self.limiter = limiter
        self.attachments = attachments  # None: messages carry no files
        self.notifier = Notifier(access, statuses)  # mutes, notify levels, @here / @channel, BUSY
        # Keeps deleted messages (and their files, until the retention ends) for review; None: deletion erases.
        self.moderation = moderation

    # --- views -------------------------------------------------------------------------------------------
    async def public(self, records: list[MessageRecord]) -> list[MessagePublic]:
        live = [r.id for r in records if not r.is_deleted]
        summaries = await self.reactions.summaries(live)
        return [MessagePublic.model_validate({**r.model_dump(), "reactions": summaries.get(r.id, [])}) for r in records]

    async def public_one(self, record: MessageRecord) -> MessagePublic:
        return (await self.public([record]))[0]

    @staticmethod
    def fresh(record: MessageRecord) -> MessagePublic:
        """A message stored a moment ago has no reactions yet: skip their query on the send path."""
        # From a plain dump, not from_attributes: an order of magnitude cheaper per message (pydantic's
        # attribute path probes every public field on the record).
        return MessagePublic.model_validate(record.model_dump())

    @staticmethod
    def fresh_wire(record: MessageRecord) -> Wire:
        """`fresh(record)` in wire form, built in one pass (the event and the acknowledgement share it)."""
        return dump_as(record, MessagePublic)

    # --- access helpers ------------------------------------------------------------------------------------
    def writable(self, access: ChannelAccess, action: Action) -> None:
        if access.channel.is_archived:
            raise AppError(errors.CHANNEL_ARCHIVED)
        if access.channel_member is None:
            raise AppError(errors.NOT_A_MEMBER, "Join the channel first")
        policy.require_in_channel(access.role, access.channel_role, action)

    async def message_in_readable(self, principal: Principal, message_id: str) -> tuple[MessageRecord, ChannelAccess]:
        record = await self.log.get(message_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such message")
        try:
            access = await self.access.channel(record.channel_id, principal.user_id)
        except AppError as exc:
            raise AppError(errors.NOT_FOUND, "No such message") from exc
        return record, access

    async def can_read_message(self, user_id: str, message_id: str) -> bool:
        """For other areas: may this user read this channel message?"""
        record = await self.log.get(message_id)
        return record is not None and await self.access.can_read_channel(record.channel_id, user_id)

    async def hit_limit(self, principal: Principal, rule_name: str) -> None:
        """Take one token of the user's `rule_name` bucket (send, react, ...); RATE_LIMITED when empty."""
        if self.limiter is not None:
            await self.limiter.hit(principal.user_id, getattr(self.limiter.rules, rule_name))

    # --- send ----------------------------------------------------------------------------------------------
    def _check_content(self, data: MessageSend) -> None:
        check_content(data.content, self.max_chars, is_system=data.type is MessageType.SYSTEM)
        if not data.content and not data.attachment_ids:
            raise AppError(errors.VALIDATION_FAILED, "A message needs content or attachments")

    async def _thread_parent(self, data: MessageSend) -> MessageRecord | None:
        if data.parent_id is None:
            return None
        return check_thread_root(await self.log.get(data.parent_id, data.channel_id), "channel")

    async def mentioned_users(self, content: str, channel: ChannelRecord, author_id: str) -> list[UserRecord]:
        """The mentioned users who may read the channel: a fixed number of queries, however many mentions."""
        names = [n for n in dict.fromkeys(MENTION.findall(content)) if n.lower() not in BROAD_NAMES][:MAX_MENTIONS]
        if not names:
            return []
        users = [u for u in await self.access.users.by_usernames(names) if u.id != author_id]
        readers = await self.access.readers_among(channel, [u.id for u in users])
        return [u for u in users if u.id in readers]

    async def send(self, principal: Principal, data: MessageSend) -> tuple[MessagePublic, bool]:
        """Store a message once per clientMsgId and fan it out; a replay returns the original (False)."""
        record, sent = await self._send(principal, data)
        return (self.fresh(record), True) if sent is not None else (await self.public_one(record), False)

    async def send_wire(self, principal: Principal, data: MessageSend) -> tuple[Wire, bool]:
        """`send`, answering the message in wire form: the Socket.IO acknowledgement reuses what the event
        carried instead of building and dumping the message again."""
        record, sent = await self._send(principal, data)
        return (sent, True) if sent is not None else (Wire(to_wire(await self.public_one(record))), False)

    async def _take_send(self, principal: Principal) -> AppError | None:
        """Take a send token: None when taken (or nothing limits), else the refusal to raise."""
        if self.limiter is None:
            return None
        decision = await self.limiter.take(principal.user_id, self.limiter.rules.send)
        return None if decision.allowed else refuse(self.limiter.rules.send, decision)

    async def _refund_send(self, principal: Principal) -> None:
        if self.limiter is not None:
            await self.limiter.take(principal.user_id, self.limiter.rules.send, -1)

    async def _send(self, principal: Principal, data: MessageSend) -> tuple[MessageRecord, Wire | None]:
        """The stored message, and its wire form as its event carried it (None for a replay)."""
        access = await self.access.channel(data.channel_id, principal.user_id)
        self.writable(access, Action.MESSAGE_SEND)
        key = dedupe_key(access.channel.id, principal.user_id, data.client_msg_id)
        # A replay (a resend after a lost ack) is answered before anything else and costs no token. A send
        # that the checks and the rate limit let through does not look for its replay here: its step looks
        # (one query for the step's whole group), which saves a read per send, and a send that turns out to
        # be a replay gives its token back. Any refusal looks first, so a replay is never refused.
        try:
            self._check_content(data)
            check_forum_shape(access.channel, data)
            refusal = await self._take_send(principal)
        except AppError as exc:
            refusal = exc
        if refusal is not None:
            return await self.log.replay_or_raise(key, refusal), None
        try:
            parent = await self._thread_parent(data)
            await self._check_attachments(principal, data.attachment_ids)
            mentions = await self.mentioned_users(data.content, access.channel, principal.user_id)
            broad = await self._broad_allowed(access, data.content)
        except AppError as exc:
            # A replay's checks may fail where the original's passed (its attachments are claimed by now).
            replay = await self.log.replay_or_raise(key, exc)
            await self._refund_send(principal)
            return replay, None

        def build(seq: int, event_seq: int, key: str) -> MessageRecord:
            now = utcnow()
            return MessageRecord(
                id=new_id(),
                channel_id=access.channel.id,
                workspace_id=access.channel.workspace_id,
                user_id=principal.user_id,
                content=data.content,
                type=data.type,
                parent_id=data.parent_id,
                title=data.title,
                client_msg_id=data.client_msg_id,
                dedupe_key=key,
                mentions=[u.id for u in mentions],
                broadcast=broad,
                is_bot=principal.is_bot,
                via="api" if principal.api_key_id else None,
                created_at=now,
                updated_at=now,
            )

        bumped: list[MessageRecord] = []

        async def bump_thread(reply: MessageRecord, step: Step) -> None:
            """A reply and its thread root's reply count are one step: stored together or not at all."""
            assert parent is not None
            root = await self.log.count_reply(step, parent.id, reply.created_at)
            if root is not None:
                bumped.append(root)

        also = bump_thread if parent is not None else None
        record, created = await self.log.append(
            access.channel.id, principal.user_id, data.client_msg_id, build, also=also, checked=True
        )
        if not created:  # a replay, found by the step
            await self._refund_send(principal)
            return record, None
        record = await self._attach(principal, record, data.attachment_ids)
        public = self.fresh_wire(record)
        await self.hub.emit("message:new", envelope(record, public), room=channel_room(record.channel_id))
        for root in bumped:
            await self.hub.emit(
                "thread:updated",
                envelope(root, replyCount=root.reply_count, lastReplyAt=root.last_reply_at),
                room=channel_room(root.channel_id),
            )
        await self._notify(record, public, [u.id for u in mentions], broad=True)
        return record, public

    async def _broad_allowed(self, access: ChannelAccess, content: str) -> str | None:
        """The message's @here / @channel scope, if the sender may use it (ROLE_TOO_LOW otherwise)."""
        scope = broad_scope(content)
        if scope is None or policy.allows_in_channel(access.role, access.channel_role, Action.MESSAGE_MENTION_BROAD):
            return scope
        if (await self.access.workspace(access.channel.workspace_id)).allow_broad_mentions:
            return scope
        raise AppError(
            errors.ROLE_TOO_LOW, "@here and @channel need a MODERATOR, unless the workspace allows them to everyone"
        )

    async def _notify(
        self, record: MessageRecord, public: MessagePublic | Wire, mentioned: list[str], *, broad: bool
    ) -> None:
        for user_id in await self.notifier.recipients(record, mentioned, broad=broad):
            await self.hub.emit("message:mention", envelope(record, public), room=user_room(user_id))

    async def _check_attachments(self, principal: Principal, ids: list[str]) -> None:
        """Refuse unusable attachments before anything is stored (the claim after the insert can then
        fail only on a race with another message claiming the same upload)."""
        if not ids:
            return
        if self.attachments is None:
            raise AppError(errors.VALIDATION_FAILED, "Attachments are not available on this server")
        for attachment_id in dict.fromkeys(ids):
            found = await self.attachments.get(principal, attachment_id)
            if getattr(found, "uploader_id", None) != principal.user_id:
                raise AppError(errors.NOT_FOUND, "No such attachment", details={"attachmentId": attachment_id})
            if getattr(found, "message_id", None) or getattr(found, "direct_message_id", None):
                raise AppError(errors.ATTACHMENT_ALREADY_ATTACHED, details={"attachmentId": attachment_id})

    async def _attach(self, principal: Principal, record: MessageRecord, ids: list[str]) -> MessageRecord:
        if not ids:
            return record
        if self.attachments is None:
            await self._withdraw(record)
            raise AppError(errors.VALIDATION_FAILED, "Attachments are not available on this server")
        try:
            summaries = await self.attachments.claim(
                principal, ids, message_id=record.id, conversation_id=record.channel_id
            )
        except AppError:
            await self._withdraw(record)
            raise
        docs = [
            s.model_dump(mode="json", by_alias=True, exclude_none=True) if hasattr(s, "model_dump") else s
            for s in summaries
        ]
        updated = await self.log.set_fields(record.id, {"attachments": docs})
        return updated or record

    async def _withdraw(self, record: MessageRecord) -> None:
        """The message must not stay without the files it announced: tombstone it (seq stays gap-free) and
        say so, so the conversation's event stream has no hole."""
        deleted = await self.log.soft_delete(record.id, record.channel_id, {"content": ""})
        if deleted is not None:
            await self.hub.emit(
                "message:deleted", envelope(deleted, self.fresh(deleted)), room=channel_room(record.channel_id)
            )

    async def post_system(self, channel_id: str, workspace_id: str, actor_id: str, event: str, text: str) -> None:
        """A SYSTEM message (joins, leaves, topic and role changes), sequenced like any other."""

        def build(seq: int, event_seq: int, key: str) -> MessageRecord:
            now = utcnow()
            return MessageRecord(
                id=new_id(),
                channel_id=channel_id,
                workspace_id=workspace_id,
                user_id=actor_id,
                content=text,
                type=MessageType.SYSTEM,
                client_msg_id=f"sys-{new_id()}",
                dedupe_key=key,
                system_event=event,
                created_at=now,
                updated_at=now,
            )

        record, _ = await self.log.append(channel_id, actor_id, f"sys-{new_id()}", build, checked=True)
        await self.hub.emit("message:new", envelope(record, self.fresh(record)), room=channel_room(channel_id))

    # --- edit, delete, pin -------------------------------------------------------------------------------------
    async def edit(self, principal: Principal, data: MessageEdit) -> MessagePublic:
        record, access = await self.message_in_readable(principal, data.message_id)
        if record.user_id != principal.user_id or record.type is MessageType.SYSTEM:
            raise AppError(errors.FORBIDDEN, "You may edit only your own messages")
        self.writable(access, Action.MESSAGE_SEND)
        if len(data.content) > self.max_chars:
            raise AppError(errors.PAYLOAD_TOO_LARGE, details={"maxChars": self.max_chars})
        mentions = await self.mentioned_users(data.content, access.channel, principal.user_id)
        broad = await self._broad_allowed(access, data.content)
        fields = {"content": data.content, "mentions": [u.id for u in mentions], "broadcast": broad}
        edited = await self.log.edit(record.id, record.channel_id, data.version, fields)
        public = await self.public_one(edited)
        await self.hub.emit("message:updated", envelope(edited, public), room=channel_room(edited.channel_id))
        # Only newly named users hear of an edit; @here / @channel notify once, when sent.
        await self._notify(edited, public, [u.id for u in mentions if u.id not in record.mentions], broad=False)
        return public

    async def delete(self, principal: Principal, message_id: str) -> MessagePublic:
        record, access = await self.message_in_readable(principal, message_id)
        if access.channel.is_archived:
            raise AppError(errors.CHANNEL_ARCHIVED)
        own = record.user_id == principal.user_id and record.type is not MessageType.SYSTEM
        if not own:
            policy.require_in_channel(access.role, access.channel_role, Action.MESSAGE_DELETE_ANY)
        if record.is_deleted:
            raise AppError(errors.MESSAGE_DELETED)
        tombstone: dict[str, Any] = {"content": "", "attachments": [], "mentions": [], "broadcast": None, "title": None}
        if self.moderation is not None:  # the original is kept for review, written before the tombstone
            await self.moderation.keep(record, principal.user_id)
        deleted = await self.log.soft_delete(record.id, record.channel_id, tombstone)
        if deleted is None:
            if self.moderation is not None:
                await self.moderation.forget(record.id)
            raise AppError(errors.MESSAGE_DELETED)
        if self.moderation is None and self.attachments is not None and record.attachments:
            # The tombstone no longer lists them; the bytes go too, as for direct messages.
            await self.attachments.discard_for_message(ConversationKind.CHANNEL, record.id)
        public = await self.public_one(deleted)
        await self.hub.emit("message:deleted", envelope(deleted, public), room=channel_room(deleted.channel_id))
        return public

    async def set_pinned(self, principal: Principal, message_id: str, pinned: bool) -> MessagePublic:
        record, access = await self.message_in_readable(principal, message_id)
        self.writable(access, Action.MESSAGE_PIN)
        if record.is_deleted:
            raise AppError(errors.MESSAGE_DELETED)
        by = principal.user_id if pinned else None
        changed = await self.log.set_pin(record.id, record.channel_id, by=by, at=utcnow())
        if changed is None:  # already in that state: answer it without a new event
            return await self.public_one(record)
        public = await self.public_one(changed)
        event = "message:pinned" if pinned else "message:unpinned"
        await self.hub.emit(event, envelope(changed, public), room=channel_room(changed.channel_id))
        return public

    # --- read ----------------------------------------------------------------------------------------------
    async def get(self, principal: Principal, message_id: str) -> MessagePublic:
        record, _ = await self.message_in_readable(principal, message_id)
        return await self.public_one(record)

    async def history(self, principal: Principal, query: HistoryQuery) -> list[MessagePublic]:
        if sum(x is not None for x in (query.before, query.after, query.around)) > 1:
            raise AppError(errors.VALIDATION_FAILED, "Give at most one of before, after, around")
        await self.access.channel(query.channel_id, principal.user_id)
        rows = await self.log.page(
            query.channel_id, before=query.before, after=query.after, around=query.around, limit=query.limit
        )
        return await self.public(rows)

    async def pins(self, principal: Principal, channel_id: str) -> list[MessagePublic]:
        await self.access.channel(channel_id, principal.user_id)
        rows = await self.log.pinned(channel_id)
        return await self.public(rows)

    async def thread(self, principal: Principal, query: ThreadQuery) -> list[MessagePublic]:
        parent, _ = await self.message_in_readable(principal, query.message_id)
        rows = await self.log.page(
            parent.channel_id, after=query.after or 0, limit=query.limit, extra={"parentId": parent.id}
        )
        return await self.public(rows)
