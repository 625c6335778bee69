"""What the server believes about a file comes from its bytes; names are made safe for display."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectnow.files.inspect import MAX_FILE_NAME_CHARS, detect_mime, safe_file_name
from connectnow.files.storage import LocalFileStorage
from tests.attachments.helpers import HTML_PAGE, PDF_BYTES, jpeg_bytes, png_bytes


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (png_bytes(4, 4), "image/png"),
        (jpeg_bytes(4, 4), "image/jpeg"),
        (PDF_BYTES, "application/pdf"),
        ("plain text, ünïcode, tabs\tand\r\nnewlines".encode(), "text/plain"),
        (HTML_PAGE, "text/html"),
        (b"   <html><body>hi</body></html>", "text/html"),
        (b"<svg onload=alert(1)>", "text/html"),
        (b"hello <script>alert(1)</script>", "application/octet-stream"),
        (b"\xff\xfe\x00\x00binary", "application/octet-stream"),
        (b"latin-1 caf\xe9", "application/octet-stream"),
        (b"bell \x07 in text", "application/octet-stream"),
    ],
)
def test_type_comes_from_the_bytes(data: bytes, mime: str) -> None:
    assert detect_mime(data) == mime


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\secret.docx", "secret.docx"),
        ("invoice\u202efdp.exe", "invoice_fdp.exe"),
        ('a"b<c>d|e?.txt', "a_b_c_d_e_.txt"),
        ("nul\x00byte.txt", "nul_byte.txt"),
        ("...", "file"),
        ("", "file"),
        (None, "file"),
    ],
)
def test_file_names_are_made_safe(raw: str | None, safe: str) -> None:
    assert safe_file_name(raw) == safe


def test_long_names_keep_their_extension() -> None:
    name = safe_file_name("x" * 500 + ".tar.gz")
    assert len(name) <= MAX_FILE_NAME_CHARS and name.endswith(".gz")


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", "a/b\x00", ""])
async def test_local_storage_refuses_keys_outside_its_root(tmp_path: Path, key: str) -> None:
    storage = LocalFileStorage(tmp_path)
    with pytest.raises(ValueError):
        await storage.put(key, b"x")
