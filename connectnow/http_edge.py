"""What wraps every HTTP and WebSocket request, Socket.IO's included.

- Proxy headers: `X-Forwarded-For` and `X-Forwarded-Proto` are believed only from the peers listed in
  CONNECTNOW_TRUSTED_PROXIES (addresses or networks). uvicorn's ProxyHeadersMiddleware then takes the
  right-most hop that no trusted proxy added, so a client cannot choose its own address by sending the header.
- Security headers on every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
  `X-Frame-Options: DENY`, and a Content-Security-Policy. Responses that carry their own CSP (the dashboard
  and /docs pages) keep it; everything else gets `default-src 'none'; frame-ancestors 'none'`, which is right
  for JSON and files: nothing in them may run or be framed.
"""

from __future__ import annotations

from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from connectnow.config import Settings

ASGIApp = Any
DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeadersMiddleware:
    """Pure ASGI (no body buffering): adds the headers to the start of every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", DEFAULT_CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def wrap_edge(app: ASGIApp, settings: Settings) -> ASGIApp:
    """The outermost layers: security headers, then (when proxies are configured) the real client address."""
    wrapped: ASGIApp = SecurityHeadersMiddleware(app)
    if settings.proxy_networks:
        wrapped = ProxyHeadersMiddleware(wrapped, trusted_hosts=settings.proxy_networks)
    return wrapped
