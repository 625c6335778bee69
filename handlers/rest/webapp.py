"""The web chat client at `/`: static files (no build step), under a strict Content-Security-Policy.

The page holds no data: it signs in through the REST API and talks Socket.IO through the client library
(clients/js/src/connectnow.js, linked into connectnow/static/app). No inline script or style is allowed, and
the page renders every user text as text.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["webapp"], include_in_schema=False)

_APP = resources.files("connectnow") / "static" / "app"
_VENDOR = resources.files("connectnow") / "static" / "vendor"
# img-src allows blob: for thumbnails (fetched with the bearer token, shown as object URLs).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_ASSETS = {
    "app.js": (_APP / "app.js", "text/javascript"),
    "app.css": (_APP / "app.css", "text/css"),
    "connectnow.js": (_APP / "connectnow.js", "text/javascript"),
    "socket.io.min.js": (_VENDOR / "socket.io.min.js", "text/javascript"),
}
_SAFE = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@router.get("/")
async def page() -> HTMLResponse:
    html = (_APP / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache", **_SAFE})


@router.get("/app/{name}")
async def asset(name: str) -> Response:
    found = _ASSETS.get(name)
    if found is None:
        raise HTTPException(status_code=404)
    path, media_type = found
    return Response(path.read_bytes(), media_type=media_type, headers={"Cache-Control": "no-cache", **_SAFE})


# The public booking page, under the same policy: the page holds no data until its script asks
# the public scheduling API (docs/SIDECAR-SCHEDULING.md).
_BOOK = resources.files("connectnow") / "static" / "book"


@router.get("/book/{username}")
async def booking_page(username: str) -> HTMLResponse:
    html = (_BOOK / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache", **_SAFE})


@router.get("/book-assets/book.js")
async def booking_script() -> Response:
    script = (_BOOK / "book.js").read_bytes()
    return Response(script, media_type="text/javascript", headers={"Cache-Control": "no-cache", **_SAFE})
