"""Attachments over REST: multipart upload, metadata, and guarded downloads with safe headers."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Response, UploadFile, status
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import TypeAdapter, ValidationError

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.attachments import Download
from handlers.rest.deps import CurrentPrincipal, NodeDep, ServicesDep
from models.attachments import AttachmentPublic
from models.base import IdStr

router = APIRouter(prefix="/attachments", tags=["attachments"])

# Multipart framing (boundaries, part headers) on top of the file itself; the body limit allows this much.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Downloads may be cached by the user's own browser only: access depends on who asks.
CACHE_CONTROL = "private, max-age=300"
_ID: TypeAdapter[str] = TypeAdapter(IdStr)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentPublic,
    summary="Upload a file (multipart field `file`); it stays private to you until a message claims it",
)
async def upload(
    file: Annotated[UploadFile, File(description="The file; its type is detected from its bytes")],
    principal: CurrentPrincipal,
    svc: ServicesDep,
    node: NodeDep,
) -> AttachmentPublic:
    limit = node.settings.attachment_max_bytes
    data = await file.read(limit + 1)  # one byte more tells "too large" from "exactly the limit"
    await file.close()
    return await svc.attachments.upload(principal, file.filename, data)


@router.get("/{attachment_id}", response_model=AttachmentPublic, summary="An attachment's metadata")
async def get_attachment(attachment_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> AttachmentPublic:
    return await svc.attachments.get(principal, _id(attachment_id))


@router.get(
    "/{attachment_id}/content",
    summary="Download the file (always as an attachment, never rendered inline; byte ranges supported)",
    response_model=None,
)
async def download(attachment_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    found = await svc.attachments.content(principal, _id(attachment_id))
    if found.local_path is not None:
        # FileResponse answers Range requests (206), so players can seek without downloading everything.
        headers = _safe_headers(found, disposition="attachment")
        del headers["Content-Length"]
        return FileResponse(found.local_path, media_type=_media_type(found), headers=headers)
    return _stream(found, disposition="attachment")


@router.get("/{attachment_id}/thumbnail", summary="The server-made thumbnail of an image")
async def thumbnail(attachment_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> StreamingResponse:
    found = await svc.attachments.thumbnail(principal, _id(attachment_id))
    # Thumbnails are re-encoded by the server (PNG or JPEG), so showing them inline is safe.
    return _stream(found, disposition="inline")


@router.delete(
    "/{attachment_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Discard an upload no message has claimed"
)
async def discard(attachment_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.attachments.delete_unattached(principal, _id(attachment_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _id(raw: str) -> str:
    # A malformed id cannot name anything: same answer as an unknown one.
    try:
        return _ID.validate_python(raw)
    except ValidationError as exc:
        raise AppError(errors.NOT_FOUND, "No such attachment") from exc


def _stream(found: Download, *, disposition: str) -> StreamingResponse:
    return StreamingResponse(
        found.chunks, media_type=_media_type(found), headers=_safe_headers(found, disposition=disposition)
    )


def _media_type(found: Download) -> str:
    return found.mime_type + ("; charset=utf-8" if found.mime_type.startswith("text/") else "")


def _safe_headers(found: Download, *, disposition: str) -> dict[str, str]:
    return {
        "Content-Disposition": content_disposition(disposition, found.record.file_name),
        "Content-Length": str(found.size),
        "X-Content-Type-Options": "nosniff",
        # Even if a browser is talked into rendering the file, it runs nothing and loads nothing.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": CACHE_CONTROL,
        "ETag": f'"{found.record.sha256}"',
    }


def content_disposition(kind: str, file_name: str) -> str:
    """RFC 6266: an ASCII fallback name plus the exact UTF-8 name (RFC 8187)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in file_name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"
