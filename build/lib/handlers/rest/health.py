"""Liveness and readiness probes."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from connectnow import errors
from connectnow.errors import AppError
from handlers.rest.deps import NodeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Storage and fan-out are reachable (503 names what is down)")
async def readyz(node: NodeDep) -> JSONResponse:
    checks = await node.readiness()
    if all(value == "ok" for value in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    down = ", ".join(f"{name} ({value})" for name, value in checks.items() if value != "ok")
    body = {
        "ok": False,
        "error": {
            "code": "UNAVAILABLE",
            "message": f"Not ready: {down}",
            "retryable": True,
            "details": checks,
        },
    }
    return JSONResponse(body, status_code=503)


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@router.get("/metrics", summary="Prometheus metrics (loopback clients, or CONNECTNOW_METRICS_TOKEN as bearer)")
async def metrics(request: Request, node: NodeDep) -> Response:
    token = node.settings.metrics_token
    supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    from_loopback = request.client is not None and request.client.host in LOOPBACK
    by_token = token is not None and hmac.compare_digest(supplied, token.get_secret_value())
    if not (by_token or (from_loopback and token is None)):
        raise AppError(errors.FORBIDDEN, "Metrics are served to loopback clients or with the metrics token")
    return Response(node.hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)
