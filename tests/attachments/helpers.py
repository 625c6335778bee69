"""Helpers for attachment and direct-message service tests: real users in the store, real images."""

from __future__ import annotations

import functools
import io

from PIL import Image

from connectnow.clock import new_id, utcnow
from connectnow.identity import Principal
from connectnow.repositories.accounts import UserRepository
from connectnow.store.port import DocumentStore
from models.users import UserRecord


async def make_user(store: DocumentStore, name: str | None = None, **fields: object) -> Principal:
    now = utcnow()
    user_id = new_id()
    username = name or f"u{user_id[-8:]}"
    record = UserRecord(
        id=user_id,
        email=f"{username}@example.com",
        email_lower=f"{username}@example.com".lower(),
        username=username,
        username_lower=username.lower(),
        display_name=username.title(),
        created_at=now,
        updated_at=now,
        **fields,  # type: ignore[arg-type]
    )
    await UserRepository(store).insert(record)
    return Principal(user=record, session_id=new_id())


def png_bytes(width: int = 640, height: int = 480, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color=(200, 30, 60) if mode == "RGB" else (200, 30, 60, 128)).save(
        out, format="PNG"
    )
    return out.getvalue()


def jpeg_bytes(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color=(10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


@functools.cache
def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny file claiming a huge canvas: a 1-bit image compresses a 400-megapixel canvas to kilobytes."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
