"""Which browser origins may open a Socket.IO connection (checked by Engine.IO before the handshake).

Non-browser clients (bots, mobile apps) send no Origin header and are not affected.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from connectnow.config import Settings

log = logging.getLogger("connectnow.origins")

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


class OriginPolicy:
    """Allowed: the configured list, the server's own origin, and any localhost origin in development."""

    def __init__(self, settings: Settings) -> None:
        self.allowed = {o.rstrip("/").lower() for o in settings.allowed_origins}
        if settings.public_url:
            self.allowed.add(_origin_of(settings.public_url))
        self.allow_localhost = settings.is_development

    def __call__(self, origin: str | None, environ: dict[str, Any] | None = None) -> bool:
        if not origin:
            return True
        normalized = origin.rstrip("/").lower()
        if normalized in self.allowed or "*" in self.allowed:
            return True
        if environ is not None and normalized == _same_origin(environ):
            return True
        host = urlsplit(normalized).hostname or ""
        if self.allow_localhost and host in _LOCAL_HOSTS:
            return True
        log.warning("refused a connection from Origin %s (ORIGIN_NOT_ALLOWED)", origin)
        return False


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _same_origin(environ: dict[str, Any]) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    if scheme in ("ws", "wss"):
        scheme = "https" if scheme == "wss" else "http"
    return f"{scheme}://{environ.get('HTTP_HOST', '')}".lower()
