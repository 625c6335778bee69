"""Liveness and readiness probes."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from connectnow import errors
from connectnow.config import Settings
from connectnow.errors import AppError
from handlers.rest.deps import NodeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Storage and fan-out are reachable (503 names what is down)")
async def readyz(node: NodeDep) -> JSONResponse:
    checks = await node.readiness()
    # Degraded presence (Redis unreachable) does not make a worker unready: connects still succeed.
    degraded = node.svc.presence.degraded
    presence = "ok" if degraded is None else f"degraded: each worker serves its own view ({degraded})"
    if all(value == "ok" for value in checks.values()):
        status = "ok" if degraded is None else "degraded"
        return JSONResponse({"status": status, "checks": checks, "presence": presence})
    down = ", ".join(f"{name} ({value})" for name, value in checks.items() if value != "ok")
    body = {
        "ok": False,
        "error": {
            "code": "UNAVAILABLE",
            "message": f"Not ready: {down}",
            "retryable": True,
            "details": checks,
        },
        "presence": presence,
    }
    return JSONResponse(body, status_code=503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (CONNECTNOW_METRICS_TOKEN as bearer, or a peer in CONNECTNOW_METRICS_ALLOWED_NETWORKS)",
)
async def metrics(request: Request, node: NodeDep) -> Response:
    if not _may_read_metrics(request, node.settings):
        raise AppError(
            errors.FORBIDDEN,
            "Metrics are served with the metrics token, or to CONNECTNOW_METRICS_ALLOWED_NETWORKS",
        )
    return Response(node.hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _may_read_metrics(request: Request, settings: Settings) -> bool:
    """By token, or by an allow-list of networks. Not "any loopback peer": behind a proxy on the same host
    every client is a loopback peer. The peer is the real client when the proxy is in CONNECTNOW_TRUSTED_PROXIES."""
    token = settings.metrics_token
    supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if token is not None and supplied and hmac.compare_digest(supplied, token.get_secret_value()):
        return True
    if request.client is None or not settings.metrics_allowed_networks:
        return False
    try:
        peer = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(net, strict=False) for net in settings.metrics_allowed_networks)
