"""Attachments: upload (type from the bytes, size limit, image facts), claim by a message, guarded download.

Who may download: while unattached, only the uploader; once claimed, whoever can read the message's
conversation. The conversation's owner answers that question through a reader check per conversation kind,
given at construction (connectnow/node.py builds them from the channel and direct-message rules), so this
service never needs to know channel or direct-message rules.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.files.inspect import ImageFacts, detect_mime, inspect_image, safe_file_name
from connectnow.files.storage import FileNotStored, FileStorage
from connectnow.realtime.ratelimit import RateLimiter
from connectnow.realtime.tasks import raise_if_cancelling, stop_task
from connectnow.repositories.attachments import AttachmentRepository
from connectnow.services.auth import Principal
from connectnow.store.port import DocumentStore
from models.attachments import AttachmentPublic, AttachmentRecord, ConversationKind

log = logging.getLogger("connectnow.attachments")

MAX_ATTACHMENTS_PER_MESSAGE = 10
# Uploads never claimed by a message (abandoned drafts) are deleted after this long.
UNATTACHED_TTL = timedelta(hours=24)
JANITOR_INTERVAL_SECS = 15 * 60

# (user id, message id) -> may this user read the message's conversation?
ReaderCheck = Callable[[str, str], Awaitable[bool]]

_MESSAGE_FIELD = {ConversationKind.CHANNEL: "messageId", ConversationKind.DIRECT: "directMessageId"}


@dataclass(frozen=True, slots=True)
class Download:
    record: AttachmentRecord
    mime_type: str
    size: int
    chunks: AsyncIterator[bytes]
    # Set when the bytes are a local file: the handler can then serve byte ranges (seeking in videos).
    local_path: Path | None = None


IMAGE_DECODE_SLOTS = 2  # concurrent image decodes per process (each bounded by MAX_DECODE_BYTES)


class AttachmentService:
    def __init__(
        self,
        store: DocumentStore,
        files: FileStorage,
        settings: Settings,
        limiter: RateLimiter,
        readers: Mapping[ConversationKind, ReaderCheck] | None = None,
    ) -> None:
        self.repo = AttachmentRepository(store)
        self.files = files
        self.settings = settings
        self.limiter = limiter
        # Who may read a claimed file: a kind without a reader serves its files to nobody.
        self._readers: Mapping[ConversationKind, ReaderCheck] = dict(readers or {})
        # Image decodes at once: each may take up to MAX_DECODE_BYTES, so memory stays bounded under a burst.
        self._decode_slots = asyncio.Semaphore(IMAGE_DECODE_SLOTS)

    # --- upload ----------------------------------------------------------------------------------------
    async def upload(self, principal: Principal, file_name: str | None, data: bytes) -> AttachmentPublic:
        await self.limiter.hit(principal.user_id, self.limiter.rules.upload)
        self._check_size(data)
        await self._check_pending(principal.user_id)
        mime = detect_mime(data)
        if mime not in self.settings.attachment_allowed_types:
            raise AppError(
                errors.ATTACHMENT_TYPE_NOT_ALLOWED,
                f"Files of type {mime} are not allowed",
                details={"detected": mime, "allowed": sorted(self.settings.attachment_allowed_types)},
            )
        facts = await self._image_facts(data, mime)
        record = AttachmentRecord(
            id=new_id(),
            file_name=safe_file_name(file_name),
            uploader_id=principal.user_id,
            storage_key="",
            file_size=len(data),
            mime_type=mime,
            sha256=hashlib.sha256(data).hexdigest(),
            width=facts.width if facts else None,
            height=facts.height if facts else None,
            thumbnail_mime=facts.thumbnail_mime if facts else None,
            created_at=utcnow(),
        )
        record.storage_key = f"attachments/{record.id[-2:]}/{record.id}"
        await self.files.put(record.storage_key, data)
        if facts and facts.thumbnail:
            record.thumbnail_key = f"{record.storage_key}.thumb"
            await self.files.put(record.thumbnail_key, facts.thumbnail)
        # Bytes first, record second: a crash leaves an unreferenced file, never a record without bytes.
        await self.repo.insert(record)
        return AttachmentPublic.of(record)

    async def _check_pending(self, user_id: str) -> None:
        # Uploads cost disk until a message claims them (or the janitor deletes them): bound them per user.
        limit = self.settings.attachment_max_pending
        if await self.repo.count({"uploaderId": user_id, "conversationKind": None}) >= limit:
            raise AppError(errors.ATTACHMENT_PENDING_LIMIT, details={"maxPending": limit})

    def _check_size(self, data: bytes) -> None:
        limit = self.settings.attachment_max_bytes
        if len(data) > limit:
            raise AppError(errors.PAYLOAD_TOO_LARGE, f"Files may be at most {limit} bytes", details={"maxBytes": limit})
        if not data:
            raise AppError(errors.ATTACHMENT_INVALID, "The file is empty")

    async def _image_facts(self, data: bytes, mime: str) -> ImageFacts | None:
        if not mime.startswith("image/"):
            return None
        async with self._decode_slots:
            return await asyncio.to_thread(
                inspect_image,
                data,
                mime,
                max_pixels=self.settings.attachment_max_image_pixels,
                thumbnail_px=self.settings.attachment_thumbnail_px,
            )

    # --- claim -----------------------------------------------------------------------------------------
    async def claim(
        self,
        principal: Principal,
        attachment_ids: Sequence[str],
        *,
        conversation_id: str,
        message_id: str | None = None,
        direct_message_id: str | None = None,
    ) -> list[AttachmentPublic]:
        """Attach the caller's unattached uploads to one message, all or none; returns their summaries.

        Pass `message_id` for a channel message or `direct_message_id` for a direct message. Unknown or
        foreign ids are NOT_FOUND (no hint that they exist); an id already used is ATTACHMENT_ALREADY_ATTACHED.
        """
        kind, target = _target(message_id, direct_message_id)
        ids = list(dict.fromkeys(attachment_ids))
        if len(ids) > MAX_ATTACHMENTS_PER_MESSAGE:
            raise AppError(errors.VALIDATION_FAILED, f"At most {MAX_ATTACHMENTS_PER_MESSAGE} attachments per message")
        field = _MESSAGE_FIELD[kind]
        claimed: list[AttachmentRecord] = []
        now = utcnow()
        try:
            for attachment_id in ids:
                record = await self.repo.claim(
                    attachment_id,
                    principal.user_id,
                    kind=kind,
                    conversation_id=conversation_id,
                    message_field=field,
                    message_id=target,
                    now=now,
                )
                if record is None:
                    raise await self._claim_refusal(principal, attachment_id, field, target)
                claimed.append(record)
        except AppError:
            for record in claimed:
                await self.repo.release(record.id, field, target)
            raise
        return [AttachmentPublic.of(r) for r in claimed]

    async def _claim_refusal(self, principal: Principal, attachment_id: str, field: str, target: str) -> AppError:
        current = await self.repo.get(attachment_id)
        if current is None or current.uploader_id != principal.user_id:
            return AppError(errors.NOT_FOUND, "No such attachment", details={"attachmentId": attachment_id})
        return AppError(errors.ATTACHMENT_ALREADY_ATTACHED, details={"attachmentId": attachment_id})

    async def for_message(self, kind: ConversationKind, message_id: str) -> list[AttachmentPublic]:
        return [AttachmentPublic.of(r) for r in await self.repo.for_message(_MESSAGE_FIELD[kind], message_id)]

    # --- read ------------------------------------------------------------------------------------------
    async def get(self, principal: Principal, attachment_id: str) -> AttachmentPublic:
        return AttachmentPublic.of(await self._readable(principal, attachment_id))

    async def content(self, principal: Principal, attachment_id: str) -> Download:
        record = await self._readable(principal, attachment_id)
        return await self._download(record, record.storage_key, record.mime_type, record.file_size)

    async def thumbnail(self, principal: Principal, attachment_id: str) -> Download:
        record = await self._readable(principal, attachment_id)
        if record.thumbnail_key is None or record.thumbnail_mime is None:
            raise AppError(errors.NOT_FOUND, "This attachment has no thumbnail")
        data = await self._read(record.thumbnail_key)
        return Download(record, record.thumbnail_mime, len(data), _once(data))

    async def _download(self, record: AttachmentRecord, key: str, mime: str, size: int) -> Download:
        if not await self.files.exists(key):
            log.error("attachment %s has a record but no bytes at %s", record.id, key)
            raise AppError(errors.NOT_FOUND, "The file of this attachment is missing")
        return Download(record, mime, size, self.files.stream(key), self.files.local_path(key))

    async def _read(self, key: str) -> bytes:
        try:
            return await self.files.read(key)
        except FileNotStored as exc:
            raise AppError(errors.NOT_FOUND, "The file of this attachment is missing") from exc

    async def _readable(self, principal: Principal, attachment_id: str) -> AttachmentRecord:
        """The record if the caller may read it; NOT_FOUND otherwise, so ids cannot be probed."""
        record = await self.repo.get(attachment_id)
        if record is None or not await self._may_read(principal.user_id, record):
            raise AppError(errors.NOT_FOUND, "No such attachment")
        return record

    async def _may_read(self, user_id: str, record: AttachmentRecord) -> bool:
        if record.conversation_kind is None:
            return record.uploader_id == user_id
        check = self._readers.get(record.conversation_kind)
        message_id = record.message_id or record.direct_message_id
        if check is None or message_id is None:
            return False
        return await check(user_id, message_id)

    # --- delete ----------------------------------------------------------------------------------------
    async def discard_for_message(self, kind: ConversationKind, message_id: str) -> int:
        """A message was deleted: erase its files (records and bytes), so a known id fetches nothing."""
        removed = 0
        for record in await self.repo.for_message(_MESSAGE_FIELD[kind], message_id):
            if await self.repo.delete({"id": record.id, _MESSAGE_FIELD[kind]: message_id}):
                await self._delete_files(record)
                removed += 1
        return removed

    async def discard_for_conversation(self, kind: ConversationKind, conversation_id: str, *, batch: int = 200) -> int:
        """A conversation was deleted: erase every file still filed under it (its messages' files are
        usually gone already; this catches one claimed for a message that was never stored)."""
        removed = 0
        while records := await self.repo.in_conversation(kind, conversation_id, batch):
            for record in records:
                if await self.repo.delete_id(record.id):
                    await self._delete_files(record)
                    removed += 1
        return removed

    async def delete_unattached(self, principal: Principal, attachment_id: str) -> None:
        """An uploader may discard an upload no message has claimed (a removed draft attachment)."""
        record = await self.repo.get(attachment_id)
        if record is None or record.uploader_id != principal.user_id:
            raise AppError(errors.NOT_FOUND, "No such attachment")
        if record.is_attached:
            raise AppError(errors.ATTACHMENT_ALREADY_ATTACHED, "Delete the message instead")
        if await self.repo.delete({"id": attachment_id, "conversationKind": None}):
            await self._delete_files(record)

    async def purge_unattached(self, *, older_than: timedelta = UNATTACHED_TTL, batch: int = 200) -> int:
        """Delete abandoned uploads (records first, so a half-done purge never serves missing bytes)."""
        removed = 0
        for record in await self.repo.unattached_before(utcnow() - older_than, batch):
            if await self.repo.delete({"id": record.id, "conversationKind": None}):
                await self._delete_files(record)
                removed += 1
        return removed

    async def _delete_files(self, record: AttachmentRecord) -> None:
        await self.files.delete(record.storage_key)
        if record.thumbnail_key:
            await self.files.delete(record.thumbnail_key)


def _target(message_id: str | None, direct_message_id: str | None) -> tuple[ConversationKind, str]:
    if (message_id is None) == (direct_message_id is None):
        raise ValueError("claim needs exactly one of message_id and direct_message_id")
    if message_id is not None:
        return ConversationKind.CHANNEL, message_id
    assert direct_message_id is not None
    return ConversationKind.DIRECT, direct_message_id


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class AttachmentJanitor:
    """Deletes abandoned uploads now and then. Safe on several workers: each delete is conditional."""

    def __init__(
        self,
        service: AttachmentService,
        interval_secs: float = JANITOR_INTERVAL_SECS,
        max_age: timedelta = UNATTACHED_TTL,
    ) -> None:
        self.service = service
        self.interval_secs = interval_secs
        self.max_age = max_age
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Keep a reference: an unreferenced task can be garbage-collected mid-run.
        self._task = asyncio.create_task(self._run(), name="attachment-janitor")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_secs)
            try:
                removed = await self.service.purge_unattached(older_than=self.max_age)
                if removed:
                    log.info("deleted %d abandoned uploads", removed)
            except Exception:
                raise_if_cancelling()
                log.exception("purging abandoned uploads failed; retrying next round")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
