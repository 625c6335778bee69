"""/docs with Swagger UI served from this server (connectnow/static/vendor), under a strict CSP.

FastAPI's default page loads Swagger UI from a CDN without integrity checks; here its script and style come
from /docs/assets, and the page's one inline script is allowed by its hash, not by 'unsafe-inline'.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from connectnow import errors
from connectnow.errors import AppError

_VENDOR = resources.files("connectnow") / "static" / "vendor"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _page_and_csp(app: FastAPI) -> tuple[str, str]:
    html = bytes(
        get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        ).body
    ).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    csp = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    )
    return html, csp


def install_docs(app: FastAPI) -> None:
    """Call on an app created with docs_url=None and redoc_url=None (ReDoc would load from a CDN too)."""
    router = APIRouter(include_in_schema=False)
    html, csp = _page_and_csp(app)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    @router.get("/docs/assets/{name}")
    async def asset(name: str) -> Response:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise AppError(errors.NOT_FOUND)
        body = (_VENDOR / name).read_bytes()
        return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

    app.include_router(router)
