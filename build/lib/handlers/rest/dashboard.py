"""The operators' dashboard page and the Socket.IO client it loads (served locally, no CDN)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["dashboard"], include_in_schema=False)

_STATIC = resources.files("connectnow") / "static"
# The page holds no data: it logs in through the API and then listens over Socket.IO (admins only).
_CSP = "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"


@router.get("/dashboard")
async def page() -> HTMLResponse:
    html = (_STATIC / "dashboard.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"})


@router.get("/dashboard/dashboard.js")
async def script() -> Response:
    body = (_STATIC / "dashboard.js").read_bytes()
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/socket.io.min.js")
async def socket_client() -> Response:
    body = (_STATIC / "vendor" / "socket.io.min.js").read_bytes()
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
