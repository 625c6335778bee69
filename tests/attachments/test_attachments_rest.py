"""Attachments over REST against a live server: upload, limits, detection, safe download headers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.attachments.helpers import HTML_PAGE, png_bytes
from tests.support.clients import bearer, register
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
MAX_BYTES = 300_000


@pytest.fixture
def live_server(tmp_path: Path) -> LiveServer:  # type: ignore[override]
    server = LiveServer.start(tmp_path / "server", attachment_max_bytes=str(MAX_BYTES))
    try:
        yield server  # type: ignore[misc]
    finally:
        server.stop()


async def test_upload_metadata_download_and_headers(http: httpx.AsyncClient) -> None:
    alice = await register(http)
    auth = bearer(alice["accessToken"])
    data = png_bytes(400, 200)
    response = await http.post(
        "/api/v1/attachments",
        files={"file": ("ünïcode näme.txt", data, "text/html")},  # the claimed type is ignored
        headers=auth,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mimeType"] == "image/png" and body["width"] == 400 and body["height"] == 200
    assert body["fileSize"] == len(data) and body["uploaderId"] == alice["user"]["id"]
    meta = await http.get(f"/api/v1/attachments/{body['id']}", headers=auth)
    assert meta.status_code == 200 and meta.json() == body

    content = await http.get(body["fileUrl"], headers=auth)
    assert content.status_code == 200 and content.content == data
    assert content.headers["content-type"] == "image/png"
    assert content.headers["x-content-type-options"] == "nosniff"
    disposition = content.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert (
        disposition == "attachment; filename=\"_n_code n_me.txt\"; filename*=UTF-8''%C3%BCn%C3%AFcode%20n%C3%A4me.txt"
    )
    assert "sandbox" in content.headers["content-security-policy"]

    # Byte ranges, so audio and video players can seek.
    part = await http.get(body["fileUrl"], headers={**auth, "Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == data[:8]
    assert part.headers["content-range"] == f"bytes 0-7/{len(data)}"
    assert part.headers["x-content-type-options"] == "nosniff"
    assert part.headers["content-disposition"] == disposition

    thumb = await http.get(body["thumbnailUrl"], headers=auth)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff"


async def test_other_users_and_anonymous_callers_see_nothing(http: httpx.AsyncClient) -> None:
    alice, bob = await register(http), await register(http)
    up = await http.post(
        "/api/v1/attachments", files={"file": ("a.txt", b"private", "text/plain")}, headers=bearer(alice["accessToken"])
    )
    attachment_id = up.json()["id"]
    for path in ("", "/content", "/thumbnail"):
        denied = await http.get(f"/api/v1/attachments/{attachment_id}{path}", headers=bearer(bob["accessToken"]))
        assert denied.status_code == 404 and denied.json()["error"]["code"] == "NOT_FOUND"
        anonymous = await http.get(f"/api/v1/attachments/{attachment_id}{path}")
        assert anonymous.status_code == 401
    for bad in ("nope", "0" * 24, "%7B%22%24ne%22%3Anull%7D"):
        missing = await http.get(f"/api/v1/attachments/{bad}", headers=bearer(alice["accessToken"]))
        assert missing.status_code == 404
    deleted = await http.delete(f"/api/v1/attachments/{attachment_id}", headers=bearer(bob["accessToken"]))
    assert deleted.status_code == 404
    deleted = await http.delete(f"/api/v1/attachments/{attachment_id}", headers=bearer(alice["accessToken"]))
    assert deleted.status_code == 204


async def test_bad_uploads_are_refused_with_codes(http: httpx.AsyncClient) -> None:
    alice = await register(http)
    auth = bearer(alice["accessToken"])
    html = await http.post("/api/v1/attachments", files={"file": ("cat.png", HTML_PAGE, "image/png")}, headers=auth)
    assert html.status_code == 415 and html.json()["error"]["code"] == "ATTACHMENT_TYPE_NOT_ALLOWED"
    assert html.json()["error"]["details"]["detected"] == "text/html"

    big = await http.post("/api/v1/attachments", files={"file": ("a.txt", b"a" * (MAX_BYTES + 1))}, headers=auth)
    assert big.status_code == 413 and big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    huge = await http.post("/api/v1/attachments", files={"file": ("a.txt", b"a" * (MAX_BYTES + 200_000))}, headers=auth)
    assert huge.status_code == 413  # refused by the body limit before it is read

    no_file = await http.post("/api/v1/attachments", data={"file": '{"$ne": null}'}, headers=auth)
    assert no_file.status_code == 422 and no_file.json()["error"]["code"] == "VALIDATION_FAILED"
    as_json = await http.post("/api/v1/attachments", json={"file": {"$ne": None}}, headers=auth)
    assert as_json.status_code == 422
    empty = await http.post("/api/v1/attachments", files={"file": ("e.txt", b"")}, headers=auth)
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "ATTACHMENT_INVALID"

    # Nothing was stored by any refusal.
    ok = await http.post("/api/v1/attachments", files={"file": ("ok.txt", b"fine")}, headers=auth)
    assert ok.status_code == 201


def test_content_disposition_never_breaks_out_of_the_header() -> None:
    from handlers.rest.attachments import content_disposition

    header = content_disposition("attachment", 'evil";\r\nX-Injected: 1.txt')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="evil____X-Injected: 1.txt"')
