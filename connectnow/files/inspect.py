"""What an uploaded file really is: its type from its bytes, and for images their size and a thumbnail.

The client's content type and file name are never trusted: a HTML page named `cat.png` is HTML. Types are
detected by the `filetype` library (magic numbers); text without a signature is plain text only when it is
valid UTF-8 and does not look like markup a browser would render.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

import filetype  # type: ignore[import-untyped]
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from connectnow import errors
from connectnow.errors import AppError

TEXT_PLAIN = "text/plain"
# Formats Pillow decodes for thumbnails; other images (HEIC, PSD...) are stored without one.
THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff"})
# Browsers render these when sniffing, so they never pass as plain text.
_MARKUP = re.compile(rb"^\s*(<!doctype|<html|<head|<body|<script|<svg|<\?xml|<iframe|<!--|<[a-z]+[\s>/])", re.I)
_ACTIVE = re.compile(rb"<script|<svg|javascript:|<iframe|onerror\s*=|onload\s*=", re.I)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069\"\\/:*?<>|]")
MAX_FILE_NAME_CHARS = 200
THUMBNAIL_JPEG_QUALITY = 85
# Largest decode a thumbnail may take: 64 MiB is 16.7 megapixels at 4 bytes a pixel. Larger images (after
# JPEG's reduced decode) are kept without a thumbnail rather than decoded.
MAX_DECODE_BYTES = 64 * 1024 * 1024
_ORIENTATION_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees


@dataclass(frozen=True, slots=True)
class ImageFacts:
    width: int
    height: int
    thumbnail: bytes | None
    thumbnail_mime: str | None


def detect_mime(data: bytes) -> str:
    """The MIME type the bytes prove, or `application/octet-stream` when nothing matches."""
    kind = filetype.guess(data)
    if kind is not None:
        return str(kind.mime)
    if _looks_like_plain_text(data):
        return TEXT_PLAIN
    if _MARKUP.search(data[:1024]):
        return "text/html"
    return "application/octet-stream"


def _looks_like_plain_text(data: bytes) -> bool:
    if b"\x00" in data or _MARKUP.search(data[:1024]) or _ACTIVE.search(data):
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text[:4096])


def safe_file_name(raw: str | None, fallback: str = "file") -> str:
    """A display name: no path, no control or bidi characters, bounded length."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", _UNSAFE_NAME.sub("_", name)).strip(" .")
    if not name:
        return fallback
    if len(name) > MAX_FILE_NAME_CHARS:
        _stem, dot, ext = name.rpartition(".")
        keep = ext[:16] if dot and len(ext) <= 16 else ""
        name = name[: MAX_FILE_NAME_CHARS - len(keep) - 1] + ("." + keep if keep else "")
    return name


def inspect_image(data: bytes, mime: str, *, max_pixels: int, thumbnail_px: int) -> ImageFacts:
    """Width, height and a thumbnail. Refuses decompression bombs by reading only the header first.

    Memory is bounded as well as pixels: JPEGs are decoded at a reduced scale (`draft`, 1/2 to 1/8), the
    orientation is applied to the small thumbnail rather than the full image, and an image whose decode
    would still take more than MAX_DECODE_BYTES is stored without a thumbnail instead of being decoded.
    CPU-bound: call it in a worker thread, and bound how many run at once (see AttachmentService).
    """
    try:
        with _open_image(data) as probe:
            width, height = probe.size  # from the header; no pixels decoded yet
            if width * height > max_pixels:
                raise _too_large(max_pixels, width, height)
            if _ORIENTATION_SWAPS_SIDES & {probe.getexif().get(ExifTags.Base.Orientation)}:
                width, height = height, width
            if mime not in THUMBNAIL_TYPES:
                return ImageFacts(width, height, None, None)
            probe.seek(0)
            probe.draft("RGB", (thumbnail_px, thumbnail_px))  # JPEG: decode at the smallest scale that fits
            if _decoded_bytes(probe) > MAX_DECODE_BYTES:
                return ImageFacts(width, height, None, None)
            probe.thumbnail((thumbnail_px, thumbnail_px))
            small = ImageOps.exif_transpose(probe)
            return ImageFacts(width, height, *_encode_thumbnail(small))
    except AppError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, EOFError) as exc:
        raise AppError(errors.ATTACHMENT_INVALID, "The image could not be decoded") from exc
    finally:
        release_memory()


def _decoded_bytes(image: Image.Image) -> int:
    """What decoding the image at its current (possibly drafted) size allocates: Pillow keeps up to 4 bytes
    a pixel (RGB is stored as RGBX), so count 4 whatever the mode."""
    width, height = image.size
    return width * height * 4


def release_memory() -> None:
    """Give freed decode buffers back to the system. glibc keeps them in per-thread arenas otherwise, so a
    burst of large images left the process at its peak size for good."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _load_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to trim


_malloc_trim = _load_malloc_trim()


def _open_image(data: bytes) -> Image.Image:
    # Pillow itself refuses far larger canvases (DecompressionBombError) and warns for large ones: treat
    # its warning as a refusal too, so the answer never depends on the process's warning filters.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AppError(errors.ATTACHMENT_IMAGE_TOO_LARGE, "The image has too many pixels") from exc


def _too_large(max_pixels: int, width: int, height: int) -> AppError:
    return AppError(
        errors.ATTACHMENT_IMAGE_TOO_LARGE,
        f"Images may have at most {max_pixels} pixels; this one has {width}x{height}",
        details={"maxPixels": max_pixels, "width": width, "height": height},
    )


def _encode_thumbnail(image: Image.Image) -> tuple[bytes, str]:
    out = io.BytesIO()
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image.convert("RGBA").save(out, format="PNG", optimize=True)
        return out.getvalue(), "image/png"
    image.convert("RGB").save(out, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
    return out.getvalue(), "image/jpeg"
