"""Attachment rules on both storage adapters: detection, limits, images, claim, access."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectnow import errors
from connectnow.errors import AppError
from connectnow.files.storage import LocalFileStorage
from connectnow.identity import Principal
from connectnow.realtime.ratelimit import RateRules
from connectnow.realtime.ratelimit_memory import MemoryRateLimiter
from connectnow.services.attachments import MAX_ATTACHMENTS_PER_MESSAGE, AttachmentService
from connectnow.store.port import DocumentStore
from models.attachments import ConversationKind
from tests.attachments.helpers import HTML_PAGE, PDF_BYTES, bomb_png, jpeg_bytes, make_user, png_bytes
from tests.conftest import make_settings

MAX_BYTES = 200_000


# message id -> who may read it: the conversation rules, as the tests below set them
Readers = dict[str, set[str]]


@pytest.fixture
def readers() -> Readers:
    return {}


@pytest.fixture
async def service(store: DocumentStore, tmp_path: Path, readers: Readers) -> AsyncIterator[AttachmentService]:
    settings = make_settings(tmp_path, attachment_max_bytes=MAX_BYTES, rate_upload_burst=50)
    limiter = MemoryRateLimiter(RateRules.from_settings(settings))

    async def check(user_id: str, message_id: str) -> bool:
        return user_id in readers.get(message_id, set())

    checks = {ConversationKind.CHANNEL: check, ConversationKind.DIRECT: check}
    yield AttachmentService(store, LocalFileStorage(tmp_path / "files"), settings, limiter, checks)


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_image_upload_detects_type_size_and_makes_thumbnail(
    service: AttachmentService, store: DocumentStore
) -> None:
    alice = await make_user(store)
    data = png_bytes(640, 480)
    # The client calls it a .exe: the bytes decide.
    public = await service.upload(alice, "../../etc/holiday.exe", data)
    assert public.mime_type == "image/png"
    assert (public.width, public.height) == (640, 480)
    assert public.file_size == len(data)
    assert public.file_name == "holiday.exe"
    assert public.file_url == f"/api/v1/attachments/{public.id}/content"
    assert public.thumbnail_url == f"/api/v1/attachments/{public.id}/thumbnail"
    assert public.conversation_kind is None and public.uploader_id == alice.user_id
    download = await service.content(alice, public.id)
    assert await read_all(download.chunks) == data
    thumb = await service.thumbnail(alice, public.id)
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(await read_all(thumb.chunks))) as image:
        assert max(image.size) == 320 and image.size == (320, 240)


async def test_jpeg_and_pdf_are_accepted(service: AttachmentService, store: DocumentStore) -> None:
    alice = await make_user(store)
    jpeg = await service.upload(alice, "photo.jpg", jpeg_bytes())
    assert jpeg.mime_type == "image/jpeg" and jpeg.width == 800
    pdf = await service.upload(alice, "report.pdf", PDF_BYTES)
    assert pdf.mime_type == "application/pdf" and pdf.thumbnail_url is None and pdf.width is None
    with pytest.raises(AppError) as info:
        await service.thumbnail(alice, pdf.id)
    assert info.value.error is errors.NOT_FOUND


async def test_plain_text_is_allowed_but_html_named_png_is_refused(
    service: AttachmentService, store: DocumentStore
) -> None:
    alice = await make_user(store)
    text = await service.upload(alice, "notes.txt", "héllo\nworld\n".encode())
    assert text.mime_type == "text/plain"
    for payload in (HTML_PAGE, b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", b"hi<script>x</script>"):
        with pytest.raises(AppError) as info:
            await service.upload(alice, "cat.png", payload)
        assert info.value.error is errors.ATTACHMENT_TYPE_NOT_ALLOWED
    with pytest.raises(AppError) as info:
        await service.upload(alice, "a.bin", b"\x7fELF\x02\x01\x01" + b"\x00" * 64)
    assert info.value.error is errors.ATTACHMENT_TYPE_NOT_ALLOWED
    assert info.value.details is not None and info.value.details["detected"] == "application/x-executable"
    # Nothing stored for refusals: one record, one file.
    assert await service.repo.count({}) == 1


async def test_size_limits_and_empty_files(service: AttachmentService, store: DocumentStore, tmp_path: Path) -> None:
    alice = await make_user(store)
    with pytest.raises(AppError) as info:
        await service.upload(alice, "big.txt", b"a" * (MAX_BYTES + 1))
    assert info.value.error is errors.PAYLOAD_TOO_LARGE
    with pytest.raises(AppError) as info:
        await service.upload(alice, "empty.txt", b"")
    assert info.value.error is errors.ATTACHMENT_INVALID
    assert await service.repo.count({}) == 0
    assert not any(p.is_file() for p in (tmp_path / "files").rglob("*"))


async def test_decompression_bomb_and_broken_image_are_refused(
    service: AttachmentService, store: DocumentStore
) -> None:
    alice = await make_user(store)
    with pytest.raises(AppError) as info:
        await service.upload(alice, "bomb.png", bomb_png())
    assert info.value.error is errors.ATTACHMENT_IMAGE_TOO_LARGE
    broken = png_bytes()[:200]  # a valid signature, then nothing
    with pytest.raises(AppError) as info:
        await service.upload(alice, "broken.png", broken)
    assert info.value.error is errors.ATTACHMENT_INVALID
    assert await service.repo.count({}) == 0


async def test_unattached_upload_is_visible_to_its_uploader_only(
    service: AttachmentService, store: DocumentStore
) -> None:
    alice, bob = await make_user(store), await make_user(store)
    public = await service.upload(alice, "a.txt", b"secret plans")
    assert (await service.get(alice, public.id)).id == public.id
    for call in (service.get, service.content, service.thumbnail):
        with pytest.raises(AppError) as info:
            await call(bob, public.id)
        assert info.value.error is errors.NOT_FOUND


async def test_claim_then_only_conversation_readers_download(
    service: AttachmentService, store: DocumentStore, readers: Readers
) -> None:
    alice, bob, carol = await make_user(store), await make_user(store), await make_user(store)
    a1 = await service.upload(alice, "a.txt", b"one")
    a2 = await service.upload(alice, "b.txt", b"two")
    readers["m1"] = {alice.user_id, bob.user_id}
    claimed = await service.claim(alice, [a1.id, a2.id, a1.id], message_id="m1", conversation_id="c1")
    assert [c.id for c in claimed] == [a1.id, a2.id]
    assert all(c.message_id == "m1" and c.conversation_kind is ConversationKind.CHANNEL for c in claimed)
    assert await read_all((await service.content(bob, a1.id)).chunks) == b"one"
    with pytest.raises(AppError) as info:
        await service.content(carol, a1.id)
    assert info.value.error is errors.NOT_FOUND
    assert [a.id for a in await service.for_message(ConversationKind.CHANNEL, "m1")] == [a1.id, a2.id]


async def test_claim_is_once_and_only_by_the_uploader(service: AttachmentService, store: DocumentStore) -> None:
    alice, bob = await make_user(store), await make_user(store)
    mine = await service.upload(alice, "a.txt", b"one")
    await service.claim(alice, [mine.id], direct_message_id="d1", conversation_id="dm1")
    with pytest.raises(AppError) as info:
        await service.claim(alice, [mine.id], message_id="m2", conversation_id="c1")
    assert info.value.error is errors.ATTACHMENT_ALREADY_ATTACHED
    fresh = await service.upload(alice, "b.txt", b"two")
    for ids in ([fresh.id], ["0" * 24]):
        with pytest.raises(AppError) as info:
            await service.claim(bob, ids, message_id="m3", conversation_id="c1")
        assert info.value.error is errors.NOT_FOUND
    record = await service.repo.get(fresh.id)
    assert record is not None and record.conversation_kind is None


async def test_claim_is_all_or_nothing(service: AttachmentService, store: DocumentStore) -> None:
    alice = await make_user(store)
    good = await service.upload(alice, "a.txt", b"one")
    taken = await service.upload(alice, "b.txt", b"two")
    await service.claim(alice, [taken.id], message_id="m0", conversation_id="c1")
    with pytest.raises(AppError):
        await service.claim(alice, [good.id, taken.id], message_id="m1", conversation_id="c1")
    record = await service.repo.get(good.id)
    assert record is not None and record.message_id is None and record.conversation_kind is None
    too_many = [good.id] + [f"{i:024x}" for i in range(MAX_ATTACHMENTS_PER_MESSAGE)]
    with pytest.raises(AppError) as info:
        await service.claim(alice, too_many, message_id="m1", conversation_id="c1")
    assert info.value.error is errors.VALIDATION_FAILED


async def test_concurrent_claims_of_one_upload_have_one_winner(
    service: AttachmentService, store: DocumentStore
) -> None:
    alice = await make_user(store)
    upload = await service.upload(alice, "a.txt", b"one")
    results = await asyncio.gather(
        *(service.claim(alice, [upload.id], message_id=f"m{i}", conversation_id="c") for i in range(8)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(
        isinstance(r, AppError) and r.error is errors.ATTACHMENT_ALREADY_ATTACHED for r in results if r not in winners
    )


async def test_without_a_registered_reader_nobody_downloads_attached_files(
    service: AttachmentService, store: DocumentStore
) -> None:
    alice = await make_user(store)
    upload = await service.upload(alice, "a.txt", b"one")
    await service.claim(alice, [upload.id], message_id="m1", conversation_id="c")
    with pytest.raises(AppError):
        await service.get(alice, upload.id)


async def test_delete_and_purge_unattached(service: AttachmentService, store: DocumentStore, tmp_path: Path) -> None:
    from datetime import timedelta

    alice, bob = await make_user(store), await make_user(store)
    draft = await service.upload(alice, "a.txt", b"draft")
    with pytest.raises(AppError):
        await service.delete_unattached(bob, draft.id)
    await service.delete_unattached(alice, draft.id)
    assert await service.repo.get(draft.id) is None
    kept = await service.upload(alice, "b.png", png_bytes(50, 50))
    await service.claim(alice, [kept.id], message_id="m", conversation_id="c")
    with pytest.raises(AppError) as info:
        await service.delete_unattached(alice, kept.id)
    assert info.value.error is errors.ATTACHMENT_ALREADY_ATTACHED
    abandoned = await service.upload(alice, "c.png", png_bytes(50, 50))
    assert await service.purge_unattached(older_than=timedelta(hours=1)) == 0
    assert await service.purge_unattached(older_than=timedelta(seconds=-1)) == 1
    assert await service.repo.get(abandoned.id) is None
    files = sorted(p.name for p in (tmp_path / "files").rglob("*") if p.is_file())
    assert files == sorted([kept.id, f"{kept.id}.thumb"])


async def test_uploads_are_rate_limited(store: DocumentStore, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_upload_burst=2, rate_upload_per_second=0.01)
    limiter = MemoryRateLimiter(RateRules.from_settings(settings))
    service = AttachmentService(store, LocalFileStorage(tmp_path / "f"), settings, limiter)
    alice: Principal = await make_user(store)
    await service.upload(alice, "a.txt", b"1")
    await service.upload(alice, "a.txt", b"2")
    with pytest.raises(AppError) as info:
        await service.upload(alice, "a.txt", b"3")
    assert info.value.error is errors.RATE_LIMITED and info.value.retry_after


async def test_office_documents_and_zip_are_told_apart_by_their_content(
    service: AttachmentService, store: DocumentStore
) -> None:
    import io
    import zipfile

    def archive(*names: str) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for name in names:
                zf.writestr(name, "<x/>")
        return out.getvalue()

    alice = await make_user(store)
    docx = await service.upload(alice, "report.zip", archive("[Content_Types].xml", "word/document.xml"))
    assert docx.mime_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    plain = await service.upload(alice, "report.docx", archive("notes.txt"))
    assert plain.mime_type == "application/zip"


async def test_janitor_purges_in_the_background(service: AttachmentService, store: DocumentStore) -> None:
    from datetime import timedelta

    from connectnow.services.attachments import AttachmentJanitor

    alice = await make_user(store)
    upload = await service.upload(alice, "a.txt", b"abandoned")
    janitor = AttachmentJanitor(service, interval_secs=0.05, max_age=timedelta(seconds=-1))
    await janitor.start()
    try:
        for _ in range(100):
            if await service.repo.get(upload.id) is None:
                break
            await asyncio.sleep(0.02)
    finally:
        await janitor.stop()
    assert await service.repo.get(upload.id) is None


async def test_unclaimed_uploads_are_bounded_per_user(store: DocumentStore, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachment_max_pending=2, rate_upload_burst=50)
    limiter = MemoryRateLimiter(RateRules.from_settings(settings))
    service = AttachmentService(store, LocalFileStorage(tmp_path / "f"), settings, limiter)
    alice, bob = await make_user(store), await make_user(store)
    first = await service.upload(alice, "a.txt", b"1")
    await service.upload(alice, "b.txt", b"2")
    with pytest.raises(AppError) as info:
        await service.upload(alice, "c.txt", b"3")
    assert info.value.error is errors.ATTACHMENT_PENDING_LIMIT and info.value.details == {"maxPending": 2}
    await service.upload(bob, "a.txt", b"bob has his own allowance")
    # Claiming (sending) or discarding frees a place.
    await service.claim(alice, [first.id], message_id="m1", conversation_id="c1")
    await service.upload(alice, "c.txt", b"3")
    assert await service.repo.count({"uploaderId": alice.user_id}) == 3
